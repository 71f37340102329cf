// The README's commands work on a fresh clone (issue 11 papercut: `bun src/main.ts …` failed,
// bun is not on PATH): they are `npm …` scripts or `npx porpoise …`, which runs package.json's bin
// with the project's own Bun; each names a real command; and `npx porpoise` really runs.

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { commands } from "../../src/config/args.ts";
import { VERSION } from "../../src/version.ts";
import { cleanEnv, run } from "./cli-process.ts";

const root = join(import.meta.dir, "../..");
const readme = readFileSync(join(root, "README.md"), "utf8");

test("the README never tells anyone to run bun directly, and every npx porpoise names a real command", () => {
  expect(readme).not.toMatch(/(^|[\s`])(npx )?bun (src\/)?main\.ts/m);
  const used = [...readme.matchAll(/npx porpoise ([a-z-]+)/g)].map((m) => m[1]!);
  expect(used.length).toBeGreaterThan(5);
  for (const c of used) expect([...commands, "--help"]).toContain(c);
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  expect(pkg.bin).toEqual({ porpoise: "src/main.ts" });
  expect(readFileSync(join(root, "src/main.ts"), "utf8")).toStartWith("#!/usr/bin/env bun\n");
});

test("npx porpoise runs from the repository root, offline", async () => {
  const r = await run(["npx", "--offline", "porpoise", "version"], { cwd: root, env: cleanEnv(), timeoutMs: 60_000 });
  expect(r.stderr).toBe("");
  expect(r.stdout.trim()).toBe(`porpoise ${VERSION}`);
  expect(r.code).toBe(0);
});
