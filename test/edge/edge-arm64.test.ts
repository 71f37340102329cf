// The arm64 executable as an edge worker (issue 13): built with the same code as `npm run build
// -- --target arm64`, run under qemu-aarch64 (Debian's qemu-user and libc6-arm64-cross; .ci/run
// installs them), it registers with a `porpoise all` (from source, x64) and runs a shell and a
// python task to SUCCESS with their logs. One small test: everything under qemu is slow (the
// executable's start alone takes seconds there).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildExecutable } from "../../scripts/build.ts";
import { dataDir, edgeEnv, type EdgeEnv } from "./edge-harness.ts";

const QEMU = "/usr/bin/qemu-aarch64";
const SYSROOT = "/usr/aarch64-linux-gnu";
const buildDir = mkdtempSync(join(tmpdir(), "porpoise-arm64-"));
let binary = "";
let e: EdgeEnv;

beforeAll(async () => {
  if (!existsSync(QEMU) || !existsSync(join(SYSROOT, "lib", "ld-linux-aarch64.so.1"))) {
    throw new Error("this test needs qemu-aarch64 and the arm64 C library: apt-get install -y qemu-user libc6-arm64-cross (.ci/run does)");
  }
  binary = (await buildExecutable("arm64", buildDir)).path;
  e = await edgeEnv("porpoise-edge-arm64-", { lease: "5s" });
}, 240_000);

afterAll(async () => {
  await e?.[Symbol.asyncDispose]();
  rmSync(buildDir, { recursive: true, force: true });
});

test("the arm64 binary under qemu registers as an edge worker and runs a shell and a python task to SUCCESS with their logs", async () => {
  const { token } = await e.workerToken(["pi"]);
  const w = e.worker({ token, groups: ["pi"], dataDir: dataDir(e, "pi"), cmd: [QEMU, "-L", SYSROOT, binary] });
  await w.waitFor(/edge worker \S+ ready \(.*linux\/arm64\)/, 120_000);
  await e.workflow("pi", [
    { name: "sh", type: "shell", workerGroup: "pi", script: "echo shell on the pi" },
    { name: "py", type: "python", workerGroup: "pi", deps: ["sh"], script: "print('python on the pi', 6 * 7)" },
  ]);
  const id = await e.run("pi");
  expect(await e.ended(id, 120_000)).toBe("SUCCESS");
  const tasks = await e.store.taskInstances.listForInstance(id);
  expect(tasks.map((t) => [t.taskName, t.state])).toEqual([["py", "SUCCESS"], ["sh", "SUCCESS"]]);
  expect(await e.log(tasks.find((t) => t.taskName === "sh")!.id)).toContain("shell on the pi");
  expect(await e.log(tasks.find((t) => t.taskName === "py")!.id)).toContain("python on the pi 42");
  const cluster = (await (await fetch(`${e.url}/api/v1/cluster`, { headers: { authorization: `Bearer ${e.userToken}` } })).json()) as { edgeWorkers: { arch: string }[] };
  expect(cluster.edgeWorkers.map((x) => x.arch)).toEqual(["arm64"]);
}, 240_000);
