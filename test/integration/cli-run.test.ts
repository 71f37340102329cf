// `porpoise run`, `status` and `logs` as real processes: in-process runs (a temporary
// `porpoise all` inside the run process) and runs against a separately started server.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, fromSource, run, type Spawned, spawn } from "./cli-process.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-cli-run-"));
// Task users (porpoise runs tasks as nobody when root) must pass through to the work dir, a sibling of the data dir.
chmodSync(tmp, 0o711);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

const okFlow = file(
  "ok.yaml",
  `name: hello
params:
  day: "2000-01-01"
tasks:
  - name: extract
    type: shell
    script: echo "extracting day \${day}"
  - name: load
    type: shell
    script: echo loaded
    deps: [extract]
`,
);

const failingFlow = file(
  "fails.yaml",
  `name: breaks
tasks:
  - name: first
    type: shell
    script: echo fine
  - name: broken
    type: shell
    script: |
      echo "about to fail"
      exit 3
    deps: [first]
`,
);

const badFlow = file("bad.yaml", "name: bad\ntasks:\n  - name: a\n    type: shel\n  - name: b\n    type: shell\n    script: echo\n    deps: [nope]\n");

describe("in-process (no --server)", () => {
  test("a successful workflow: plain progress lines, exit 0, and the temporary data directory is removed", async () => {
    const ownTmp = join(tmp, "tmp-ok");
    mkdirSync(ownTmp);
    const r = await run(fromSource(["run", okFlow, "--param", "day=2025-06-01"]), { cwd: tmp, env: cleanEnv({ TMPDIR: ownTmp }), timeoutMs: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^workflow instance \d+: hello v1, project default, in-process$/m);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d task extract SUCCESS \(\d+\.\ds\)$/m);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d task load SUCCESS/m);
    expect(r.stdout).toMatch(/^workflow instance \d+ SUCCESS: 2\/2 done · 0 failed · \d\d:\d\d$/m);
    expect(readdirSync(ownTmp)).toEqual([]);
  });

  test("a failing shell task: exit 1, the failure and the end of its log are shown", async () => {
    const r = await run(fromSource(["run", failingFlow, "--wait"]), { cwd: tmp, timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/task broken FAILURE/);
    expect(r.stdout).toMatch(/^workflow instance \d+ FAILURE: 1\/2 done · 1 failed/m);
    expect(r.stdout).toMatch(/^--- broken \(task instance \d+\): last \d+ log lines ---$/m);
    expect(r.stdout).toContain("about to fail");
  });

  test("a bad file: exit 2, the file and every problem as path: message, and nothing is started", async () => {
    const r = await run(fromSource(["run", badFlow]), { cwd: tmp });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`porpoise: workflow file ${badFlow} is invalid (2 problems):`);
    expect(r.stderr).toMatch(/^ {2}tasks\.0\.type: unknown type "shel"/m);
    expect(r.stderr).toMatch(/^ {2}tasks\.1\.deps\.0: unknown task "nope"/m);
  });

  test("Ctrl-C stops the in-process run, exits 1 and still removes the temporary data directory", async () => {
    const ownTmp = join(tmp, "tmp-interrupt");
    mkdirSync(ownTmp);
    const gate = join(tmp, "never");
    const flow = file("forever.yaml", `name: forever\ntasks:\n  - name: spin\n    type: shell\n    script: while [ ! -f "${gate}" ]; do sleep 0.05; done\n`);
    await using p = spawn(fromSource(["run", flow]), { cwd: tmp, env: cleanEnv({ TMPDIR: ownTmp }) });
    await p.waitFor(/^workflow instance \d+: forever v1/m);
    await p.waitFor(/^\d\d:\d\d:\d\d workflow instance \d+ RUNNING_EXECUTION$/m);
    p.signal("SIGINT");
    expect(await p.exit(30_000)).toBe(1);
    expect(p.stderr()).toMatch(/interrupted: stopping workflow instance \d+/);
    expect(readdirSync(ownTmp)).toEqual([]);
  });

  test("a missing file and a YAML syntax error are bad input too", async () => {
    const missing = await run(fromSource(["run", join(tmp, "nope.yaml")]), { cwd: tmp });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`cannot read workflow file ${join(tmp, "nope.yaml")}: no such file`);
    const broken = await run(fromSource(["run", file("syntax.yaml", "name: x\ntasks: [\n")]), { cwd: tmp });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain("syntax.yaml");
  });
});

test("help for each new command, in the generated style", async () => {
  for (const [command, usage] of [["run", "porpoise run FILE [flags]"], ["status", "porpoise status ID [flags]"], ["logs", "porpoise logs TASK_INSTANCE_ID [flags]"]]) {
    const r = await run(fromSource([command as string, "--help"]));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: npx ${usage}`); // from a checkout: the command that works there
    expect(r.stdout).toMatch(/^ {2}--server URL +PORPOISE_SERVER\b/m);
    expect(r.stdout).toMatch(/^ {2}--token TOKEN +PORPOISE_TOKEN\b/m);
  }
  const general = await run(fromSource(["--help"]));
  for (const c of ["run", "status", "logs"]) expect(general.stdout).toMatch(new RegExp(`^  ${c} +\\S`, "m"));
});

describe("against a running server", () => {
  const TOKEN = "cli-run-test-admin-token-0123456789abcdef";
  let server: Spawned;
  let url: string;
  const auth = () => ["--server", url, "--token", TOKEN];

  beforeAll(async () => {
    server = spawn(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "server")]), { cwd: tmp, env: cleanEnv({ PORPOISE_ADMIN_TOKEN: TOKEN }) });
    url = (await server.waitFor(/porpoise all ready on (http:\/\/127\.0\.0\.1:\d+)/))[1] as string;
  });
  afterAll(async () => {
    server.signal("SIGTERM");
    await server.exit();
  });

  test("without --wait: prints only the instance id; status shows it, logs print a task's output", async () => {
    const submitted = await run(fromSource(["run", okFlow, "--project", "cli", "--param", "day=2031-12-31", ...auth()]), { cwd: tmp });
    expect(submitted.stderr).toBe("");
    expect(submitted.code).toBe(0);
    expect(submitted.stdout).toMatch(/^\d+\n$/);
    const id = submitted.stdout.trim();

    // Wait for the end through the CLI itself.
    let status = "";
    const deadline = Date.now() + 30_000;
    while (!/^workflow instance \d+ SUCCESS/.test(status)) {
      if (Date.now() > deadline) throw new Error(`instance ${id} did not succeed:\n${status}`);
      const s = await run(fromSource(["status", id, ...auth()]), { cwd: tmp });
      // 3 until the instance ends, then 0 for SUCCESS.
      expect({ code: s.code, ended: /^workflow instance \d+ SUCCESS/.test(s.stdout) }).toEqual({ code: s.code === 0 ? 0 : 3, ended: s.code === 0 });
      status = s.stdout;
    }
    expect(status).toMatch(/^workflow instance \d+ SUCCESS · workflow hello v1 · project cli$/m);
    expect(status).toContain("params: day=2031-12-31");
    const row = status.match(/^(\d+) +extract +1 +SUCCESS /m);
    expect(row).not.toBeNull();

    const logs = await run(fromSource(["logs", row?.[1] as string, ...auth()]), { cwd: tmp });
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain("extracting day 2031-12-31");
  });

  test("--wait against the server; an unchanged file is not a new version, a changed one is", async () => {
    const flow = file("versions.yaml", "name: versioned\ntasks:\n  - name: only\n    type: shell\n    script: echo one\n");
    const first = await run(fromSource(["run", flow, "--wait", ...auth()]), { cwd: tmp });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^workflow instance \d+: versioned v1, project default, on http/m);
    const again = await run(fromSource(["run", flow, "--wait", ...auth()]), { cwd: tmp });
    expect(again.stdout).toContain("versioned v1,");
    writeFileSync(flow, "name: versioned\ntasks:\n  - name: only\n    type: shell\n    script: echo two\n");
    const changed = await run(fromSource(["run", flow, "--wait", ...auth()]), { cwd: tmp });
    expect(changed.code).toBe(0);
    expect(changed.stdout).toContain("versioned v2,");
  });

  test("a failing run with --wait exits 1 and says how to see the full log; status of it exits 1", async () => {
    const r = await run(fromSource(["run", failingFlow, "--wait", ...auth()]), { cwd: tmp });
    expect(r.code).toBe(1);
    // The hint names a command that works from a checkout (npx porpoise: package.json's bin), with
    // the server and the token's variable: run it as printed, from the repository root.
    const hint = (r.stdout.match(/^ {2}full log: (npx porpoise logs \d+ --server http:\S+ --token "\$PORPOISE_TOKEN")$/m) as RegExpMatchArray)[1] as string;
    const shown = await run(["sh", "-c", hint], { cwd: join(import.meta.dir, "../.."), env: cleanEnv({ PORPOISE_TOKEN: TOKEN }), timeoutMs: 60_000 });
    expect(shown.stderr).toBe("");
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("about to fail");
    const id = (r.stdout.match(/^workflow instance (\d+):/m) as RegExpMatchArray)[1] as string;
    const s = await run(fromSource(["status", id, ...auth()]), { cwd: tmp });
    expect(s.code).toBe(1);
    expect(s.stdout).toMatch(/^workflow instance \d+ FAILURE · workflow breaks v1/m);
    expect(s.stdout).toContain("tasks: 1/2 done · 0 running · 1 failed");
  });

  test("a forbidden task is counted as skipped by run --wait and by status (exit 0)", async () => {
    const flow = file(
      "skips.yaml",
      `name: skips
tasks:
  - { name: a, type: shell, script: echo a }
  - { name: b, type: shell, script: echo b, deps: [a] }
  - { name: off, type: shell, script: exit 9, flag: "NO", deps: [a] }
  - { name: c, type: shell, script: echo c, deps: [b, off] }
  - { name: d, type: shell, script: echo d, deps: [c] }
`,
    );
    const r = await run(fromSource(["run", flow, "--wait", ...auth()]), { cwd: tmp });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^workflow instance \d+ SUCCESS: 4\/5 done · 1 skipped · 0 failed · /m);
    const id = (r.stdout.match(/^workflow instance (\d+):/m) as RegExpMatchArray)[1] as string;
    const s = await run(fromSource(["status", id, ...auth()]), { cwd: tmp });
    expect(s.code).toBe(0);
    expect(s.stdout).toContain("tasks: 4/5 done · 1 skipped · 0 running · 0 failed");
    expect(s.stdout).not.toMatch(/^\d+ +off /m);
  });

  test("logs -f follows a running attempt until it ends", async () => {
    const gate = join(tmp, "gate");
    const flow = file(
      "follow.yaml",
      `name: follow
tasks:
  - name: slow
    type: shell
    script: |
      echo "first line"
      while [ ! -f "${gate}" ]; do sleep 0.05; done
      echo "second line"
`,
    );
    const submitted = await run(fromSource(["run", flow, ...auth()]), { cwd: tmp });
    expect(submitted.code).toBe(0);
    const id = submitted.stdout.trim();
    // The attempt's id, once it exists.
    let taskId: string | undefined;
    const deadline = Date.now() + 30_000;
    while (taskId === undefined) {
      if (Date.now() > deadline) throw new Error("no attempt appeared");
      const s = await run(fromSource(["status", id, ...auth()]), { cwd: tmp });
      taskId = s.stdout.match(/^(\d+) +slow +1 +RUNNING_EXECUTION/m)?.[1];
    }
    await using follower = spawn(fromSource(["logs", taskId, "-f", ...auth()]), { cwd: tmp });
    await follower.waitFor(/first line/);
    expect(follower.stdout()).not.toContain("second line");
    writeFileSync(gate, "");
    expect(await follower.exit(30_000)).toBe(0);
    const lines = follower.stdout().split("\n");
    const first = lines.findIndex((l) => l.endsWith("[out] first line"));
    expect(first).toBeGreaterThanOrEqual(0);
    expect(lines[first + 1]).toEndWith("[out] second line");
    expect(follower.stdout()).toEndWith("attempt ended: SUCCESS\n");
  });

  test("bad token and unknown ids are reported with what to do", async () => {
    const bad = await run(fromSource(["status", "1", "--server", url, "--token", "wrong-token-0123456789"]), { cwd: tmp });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("check --token or PORPOISE_TOKEN");
    const unknown = await run(fromSource(["status", "999999", ...auth()]), { cwd: tmp });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^porpoise: .*999999/m);
  });

  test("an unreachable server says so", async () => {
    const r = await run(fromSource(["run", okFlow, "--server", "http://127.0.0.1:1", "--token", TOKEN]), { cwd: tmp });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot reach porpoise at http://127.0.0.1:1");
  });
});
