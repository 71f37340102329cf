// Real bash and python3 processes through runAttempt.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runAttempt, type RunAttemptOptions } from "../../../src/worker/executor.ts";
import { followLog } from "../../../src/logs/file-logs.ts";
import { taskLogPath } from "../../../src/worker/task-log.ts";
import { processAlive, taskOf, tempDir, testEnv, waitFor } from "./worker-helpers.ts";

const dir = tempDir("shell");
afterAll(() => dir[Symbol.dispose]());
beforeAll(() => {
  for (const program of ["bash", "python3"]) {
    if (!Bun.which(program, { PATH: testEnv.PATH })) throw new Error(`${program} is needed by these tests and is not on PATH`);
  }
});

let attempt = 0;
function attemptFiles() {
  attempt++;
  return { attemptDir: join(dir.path, "work", "1", `${attempt}-1`), logPath: taskLogPath(join(dir.path, "logs"), 1, attempt, 1) };
}

async function run(task: Record<string, unknown>, extra: Partial<RunAttemptOptions> = {}) {
  const files = attemptFiles();
  const result = await runAttempt({
    task: taskOf(task),
    params: {},
    signal: new AbortController().signal,
    datasources: async () => null,
    env: testEnv,
    ...files,
    ...extra,
  });
  return { result, log: readFileSync(files.logPath, "utf8"), ...files };
}


/** A shell attempt that starts `sleep 300` in the background, prints its pid and waits for it. */
function startWithBackgroundChild() {
  const ac = new AbortController();
  const files = attemptFiles();
  const running = runAttempt({
    task: taskOf({ type: "shell", script: 'sleep 300 &\necho "child=$!"\nwait' }),
    params: {},
    signal: ac.signal,
    datasources: async () => null,
    env: testEnv,
    ...files,
  });
  return { ac, files, running };
}
describe("shell", () => {
  test("success: stdout and stderr in the log, OUT params, the script kept in the work dir", async () => {
    const { result, log, attemptDir } = await run({
      type: "shell",
      script: 'echo hello\necho "to stderr" >&2\necho \'${setValue(answer=42)}\'\necho "#{setValue(where=$(pwd))}"\n',
    });
    expect(result.state).toBe("SUCCESS");
    expect(result.exitCode).toBe(0);
    expect(result.outParams).toEqual({ answer: "42", where: attemptDir });
    expect(log).toContain("[out] hello\n");
    expect(log).toContain("[err] to stderr\n");
    expect(log).toContain("[sys] attempt ended: SUCCESS");
    expect(existsSync(join(attemptDir, "script.sh"))).toBe(true);
  });

  test("large output reaches the log whole and in order, stdout and stderr apart; an OUT param after it counts", async () => {
    const { result, log } = await run({
      type: "shell",
      script: 'for i in $(seq 1 20000); do echo "line $i"; done\nfor i in $(seq 1 300); do echo "e$i" >&2; done\nprintf \'tail-without-newline ${setValue(last=done)}\'',
    });
    expect(result).toMatchObject({ state: "SUCCESS", outParams: { last: "done" } });
    const out = log.split("\n").filter((l) => l.includes(" [out] ")).map((l) => l.slice(l.indexOf(" [out] ") + 7));
    expect(out).toHaveLength(20001);
    expect(out.slice(0, 20000)).toEqual(Array.from({ length: 20000 }, (_, i) => `line ${i + 1}`));
    expect(out[20000]).toBe("tail-without-newline ${setValue(last=done)}");
    const err = log.split("\n").filter((l) => l.includes(" [err] ")).map((l) => l.slice(l.indexOf(" [err] ") + 7));
    expect(err).toEqual(Array.from({ length: 300 }, (_, i) => `e${i + 1}`));
  });

  test("a script with quotes, $, backslashes, CRLF and non-ASCII runs as written; $0 is the kept script file", async () => {
    const { result, log, attemptDir } = await run({
      type: "shell",
      script: "echo 'single \"double\" $HOME \\n'\r\necho \"dollar \\$ back\\\\slash é 漢字 🐬\"\r\necho \"zero=$0\"\r\n",
    });
    expect(result.state).toBe("SUCCESS");
    expect(log).toContain('[out] single "double" $HOME \\n\n');
    expect(log).toContain("[out] dollar $ back\\slash é 漢字 🐬\n");
    expect(log).toContain(`[out] zero=${join(attemptDir, "script.sh")}\n`);
  });

  test("tasks started together each get their own output, exit code and OUT params", async () => {
    const runs = await Promise.all(Array.from({ length: 12 }, (_, i) => run({ type: "shell", script: `echo "n=${i}"\necho '\${setValue(n=${i})}'\nexit ${i % 3}` })));
    runs.forEach(({ result, log }, i) => {
      expect(result).toMatchObject({ state: i % 3 === 0 ? "SUCCESS" : "FAILURE", exitCode: i % 3, outParams: { n: String(i) } });
      expect(log).toContain(`[out] n=${i}\n`);
      expect(log.match(/\[out\] n=/g)).toHaveLength(1);
    });
  });

  test("a stop right after the start kills the group", async () => {
    const { ac, files, running } = startWithBackgroundChild();
    // Often while the spawning thread has not yet answered with the pid (the stop is then applied on its arrival).
    await waitFor("the script file", () => existsSync(join(files.attemptDir, "script.sh")));
    ac.abort();
    const result = await running;
    expect(result.state).toBe("KILL");
    const childPid = Number(/child=(\d+)/.exec(readFileSync(files.logPath, "utf8"))?.[1] ?? 0);
    if (childPid > 0) await waitFor("the background child to be gone", () => !processAlive(childPid));
  });

  test("a non-zero exit is a FAILURE with its exit code", async () => {
    const { result, log } = await run({ type: "shell", script: "echo before\nexit 3" });
    expect(result).toMatchObject({ state: "FAILURE", exitCode: 3, message: "exit code 3" });
    expect(log).toContain("[out] before\n");
    expect(log).toContain("[sys] exit code 3");
  });

  test("params are substituted in the text and exported as env; an untrusted value read as \"$VAR\" never runs", async () => {
    const hostile = "$(touch pwned1); touch pwned2 `touch pwned3`";
    const { result, log, attemptDir } = await run(
      { type: "shell", script: 'echo "text=${greeting} env=$greeting date=$system_biz_date"\nprintf "%s\\n" "$payload"\n', env: { FROM_TASK: "${greeting}!" } },
      { params: { greeting: "hi", "system.biz.date": "20250101", payload: hostile } },
    );
    expect(result.state).toBe("SUCCESS");
    expect(log).toContain("[out] text=hi env=hi date=20250101\n");
    expect(log).toContain(`[out] ${hostile}\n`);
    for (const f of ["pwned1", "pwned2", "pwned3"]) expect(existsSync(join(attemptDir, f))).toBe(false);
  });

  test("the task's env is substituted and applied over params", async () => {
    const { result, log } = await run({ type: "shell", script: 'echo "$FROM_TASK $x"', env: { FROM_TASK: "${x}!", x: "task" } }, { params: { x: "param" } });
    expect(result.state).toBe("SUCCESS");
    expect(log).toContain("[out] param! task\n");
  });

  test("stop kills the whole process group, background children included", async () => {
    const { ac, files, running } = startWithBackgroundChild();
    const childPid = await waitFor("the background child's pid", () => {
      const m = existsSync(files.logPath) ? /child=(\d+)/.exec(readFileSync(files.logPath, "utf8")) : null;
      return m ? Number(m[1]) : 0;
    });
    expect(processAlive(childPid)).toBe(true);
    ac.abort();
    const result = await running;
    expect(result.state).toBe("KILL");
    await waitFor("the background child to be gone", () => !processAlive(childPid));
    expect(readFileSync(files.logPath, "utf8")).toContain("[sys] stopping: SIGTERM to process group");
  });

  test("a group that ignores SIGTERM gets SIGKILL after the grace period", async () => {
    const ac = new AbortController();
    const files = attemptFiles();
    const running = runAttempt({
      task: taskOf({ type: "shell", script: "trap '' TERM\nbash -c \"trap '' TERM; sleep 300\" &\necho \"child=$!\"\nwait\nwait" }),
      params: {},
      signal: ac.signal,
      datasources: async () => null,
      env: testEnv,
      killGraceMs: 100,
      ...files,
    });
    const childPid = await waitFor("child pid", () => Number(/child=(\d+)/.exec(existsSync(files.logPath) ? readFileSync(files.logPath, "utf8") : "")?.[1] ?? 0));
    ac.abort();
    expect((await running).state).toBe("KILL");
    await waitFor("the TERM-ignoring child to be gone", () => !processAlive(childPid));
    expect(readFileSync(files.logPath, "utf8")).toContain("SIGKILL to process group");
  });

  test("what a script leaves running when it exits is ended with the attempt", async () => {
    const { result, log } = await run({ type: "shell", script: 'sleep 300 &\necho "child=$!"\nexit 0' });
    expect(result.state).toBe("SUCCESS");
    const childPid = Number(/child=(\d+)/.exec(log)![1]);
    await waitFor("the leftover child to be gone", () => !processAlive(childPid));
  });

  test("timeout WARN: a warning, and the task goes on to succeed", async () => {
    const files = attemptFiles();
    const go = join(dir.path, `go-${attempt}`);
    const warnings: unknown[] = [];
    const running = runAttempt({
      task: taskOf({ type: "shell", script: `while [ ! -f '${go}' ]; do sleep 0.02; done\necho finished` }),
      params: {},
      signal: new AbortController().signal,
      datasources: async () => null,
      env: testEnv,
      timeoutSeconds: 0.1,
      timeoutStrategy: "WARN",
      onWarn: (w) => warnings.push(w),
      ...files,
    });
    await waitFor("the timeout warning", () => warnings.length > 0);
    writeFileSync(go, "");
    const result = await running;
    expect(result.state).toBe("SUCCESS");
    expect(warnings).toEqual([{ task: "t", timeoutSeconds: 0.1 }]);
    const log = readFileSync(files.logPath, "utf8");
    expect(log).toContain("strategy WARN");
    expect(log).toContain("[out] finished");
  });

  test("timeout FAILED: killed, FAILURE 'timed out after Ns' in the result and the log", async () => {
    const { result, log } = await run({ type: "shell", script: 'sleep 300 &\necho "child=$!"\nwait', timeoutStrategy: "FAILED" }, { timeoutSeconds: 0.2 });
    expect(result).toMatchObject({ state: "FAILURE", message: "timed out after 0.2s" });
    expect(log).toContain("[sys] timed out after 0.2s");
    const childPid = Number(/child=(\d+)/.exec(log)![1]);
    await waitFor("the child of the timed-out task to be gone", () => !processAlive(childPid));
  });

  test("the task's own timeout applies when none is given", async () => {
    // 1s is the smallest timeout the schema takes; the script would run for 300s.
    const { result } = await run({ type: "shell", script: "sleep 300", timeout: "1s" });
    expect(result).toMatchObject({ state: "FAILURE", message: "timed out after 1s" });
  });

  test("the log cap truncates visibly, and OUT params printed after the cap still count", async () => {
    const { result, log } = await run(
      { type: "shell", script: "for i in $(seq 1 2000); do echo \"line $i\"; done\necho '${setValue(last=yes)}'" },
      { logMaxBytes: 4000 },
    );
    expect(result.state).toBe("SUCCESS");
    expect(result.outParams).toEqual({ last: "yes" });
    expect(log.match(/log truncated/g)?.length).toBe(1);
    expect(log).not.toContain("line 2000");
    expect(Buffer.byteLength(log)).toBeLessThan(4500);
  });

  test("followLog sees lines while the task runs and ends when the attempt ends", async () => {
    const files = attemptFiles();
    const go = join(dir.path, `go-${attempt}`);
    let ended = false;
    const running = runAttempt({
      task: taskOf({ type: "shell", script: `echo first\nwhile [ ! -f '${go}' ]; do sleep 0.02; done\necho second` }),
      params: {},
      signal: new AbortController().signal,
      datasources: async () => null,
      env: testEnv,
      ...files,
    }).finally(() => (ended = true));
    const seen: string[] = [];
    const follower = (async () => {
      for await (const page of followLog(files.logPath, new AbortController().signal, () => ended, { pollMs: 20 })) seen.push(page.text);
    })();
    await waitFor("the first line, followed", () => seen.join("").includes("[out] first\n"));
    expect(seen.join("")).not.toContain("[out] second");
    writeFileSync(go, "");
    await running;
    await follower;
    expect(seen.join("")).toBe(readFileSync(files.logPath, "utf8"));
    expect(seen.join("")).toContain("attempt ended: SUCCESS");
  });

  test("a missing interpreter is a FAILURE with the reason, not a throw", async () => {
    const { result, log } = await run({ type: "shell", script: "true" }, { env: { PATH: "/nonexistent" } });
    expect(result.state).toBe("FAILURE");
    expect(log).toContain("could not start bash");
  });

  test("a master-side task type is a programming error", async () => {
    await expect(run({ type: "sub_workflow", workflow: "child" })).rejects.toThrow("run by the master");
  });

  test("noop succeeds at once", async () => {
    const { result } = await run({ type: "noop" });
    expect(result).toEqual({ state: "SUCCESS", outParams: {} });
  });
});

describe("python", () => {
  test("success: output in the log, OUT params, params as env and substituted", async () => {
    const { result, log } = await run(
      {
        type: "python",
        script: 'import os, sys\nprint("name=${name}")\nprint("env=" + os.environ["name"])\nprint("${setValue(py=ok)}")\nprint("warn", file=sys.stderr)\n',
      },
      { params: { name: "snake" } },
    );
    expect(result).toMatchObject({ state: "SUCCESS", exitCode: 0, outParams: { py: "ok" } });
    expect(log).toContain("[out] name=snake\n");
    expect(log).toContain("[out] env=snake\n");
    expect(log).toContain("[err] warn\n");
  });

  test("an exception fails the task with the traceback in the log", async () => {
    const { result, log } = await run({ type: "python", script: "raise ValueError('bad value')" });
    expect(result).toMatchObject({ state: "FAILURE", exitCode: 1 });
    expect(log).toContain("[err] ValueError: bad value");
  });

  test("sys.exit code is the exit code", async () => {
    const { result } = await run({ type: "python", script: "import sys\nsys.exit(7)" });
    expect(result).toMatchObject({ state: "FAILURE", exitCode: 7 });
  });
});
