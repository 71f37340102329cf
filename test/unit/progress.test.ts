import { describe, expect, test } from "bun:test";
import type { InstanceView, TaskAttempt } from "../../src/cli/client.ts";
import {
  changedLines,
  countProgress,
  displayWidth,
  elapsedOf,
  failedAttempts,
  formatDuration,
  formatElapsed,
  progressLine,
  renderBar,
  summaryLine,
  taskLine,
  truncate,
  watchInstance,
} from "../../src/cli/progress.ts";
import { renderStatus, statusExitCode } from "../../src/cli/status.ts";

// Local wall-clock times, so the HH:MM:SS in lines does not depend on the machine's zone.
const at = (h: number, m: number, s: number, ms = 0) => new Date(2025, 5, 1, h, m, s, ms);
const iso = (d: Date) => d.toISOString();

let nextId = 100;
function attempt(taskName: string, state: string, extra: Partial<TaskAttempt> = {}): TaskAttempt {
  return { id: nextId++, taskName, state, attempt: 1, startTime: null, endTime: null, ...extra };
}

function view(state: string, tasks: TaskAttempt[], extra: Partial<InstanceView> = {}): InstanceView {
  return { id: 7, state, tasks, ...extra };
}

describe("counting", () => {
  test("the latest attempt of each task decides: a failed first attempt retried and running is running, not failed", () => {
    const v = view("RUNNING_EXECUTION", [
      attempt("extract", "SUCCESS"),
      attempt("load", "FAILURE", { attempt: 1 }),
      attempt("load", "RUNNING_EXECUTION", { attempt: 2 }),
      attempt("clean", "FAILURE"),
      attempt("audit", "FORCED_SUCCESS"),
      attempt("wait", "DELAY_EXECUTION"),
      attempt("kill", "KILL"),
    ]);
    expect(countProgress(v, 10)).toEqual({ total: 10, done: 2, running: 2, failed: 2, notRun: 0, runningNames: ["load", "wait"] });
  });

  test("the total is the definition's task count, or the tasks seen when that is unknown or smaller", () => {
    const v = view("RUNNING_EXECUTION", [attempt("a", "SUCCESS"), attempt("b", "DISPATCH")]);
    expect(countProgress(v).total).toBe(2);
    expect(countProgress(v, 1).total).toBe(2);
    expect(countProgress(v, 40).total).toBe(40);
    // The server's taskCount (newer API) when the caller does not know the definition.
    expect(countProgress({ ...v, taskCount: 5 }).total).toBe(5);
    expect(countProgress({ ...v, taskCount: null }).total).toBe(2);
  });

  test("tasks without an attempt count as not run once the instance ended, never while it runs", () => {
    const tasks = [attempt("a", "SUCCESS"), attempt("b", "SUCCESS"), attempt("c", "SUCCESS"), attempt("d", "SUCCESS")];
    expect(countProgress(view("RUNNING_EXECUTION", tasks), 5).notRun).toBe(0);
    const ended = view("SUCCESS", tasks, { taskCount: 5 });
    expect(countProgress(ended).notRun).toBe(1);
    expect(summaryLine(ended, countProgress(ended), 7_000)).toBe("workflow instance 7 SUCCESS: 4/5 done · 1 skipped · 0 failed · 00:07");
    // After a failure an unreached task is not "skipped": it simply did not run.
    const failed = view("FAILURE", [attempt("a", "SUCCESS"), attempt("b", "FAILURE")], { taskCount: 4 });
    expect(summaryLine(failed, countProgress(failed), 7_000)).toBe("workflow instance 7 FAILURE: 1/4 done · 2 not run · 1 failed · 00:07");
    // Unknown total (an older server, status without a definition): nothing is claimed.
    expect(countProgress(view("SUCCESS", tasks)).notRun).toBe(0);
  });

  test("failedAttempts lists latest attempts that failed or were killed, not earlier failed attempts", () => {
    const first = attempt("load", "FAILURE", { attempt: 1 });
    const v = view("FAILURE", [first, attempt("load", "SUCCESS", { attempt: 2 }), attempt("x", "KILL"), attempt("y", "FAILURE")]);
    expect(failedAttempts(v).map((t) => t.taskName)).toEqual(["x", "y"]);
  });
});

describe("formatting", () => {
  test("elapsed as mm:ss, and h:mm:ss past an hour", () => {
    expect(formatElapsed(0)).toBe("00:00");
    expect(formatElapsed(7_999)).toBe("00:07");
    expect(formatElapsed(754_000)).toBe("12:34");
    expect(formatElapsed(3_723_000)).toBe("1:02:03");
    expect(formatElapsed(-5)).toBe("00:00");
  });

  test("task durations", () => {
    expect(formatDuration(1_234)).toBe("1.2s");
    expect(formatDuration(59_900)).toBe("59.9s");
    expect(formatDuration(123_000)).toBe("2m03s");
    expect(formatDuration(3_720_000)).toBe("1h02m");
  });

  test("the bar is full only when everything is done", () => {
    expect(renderBar(12, 40)).toBe("[███░░░░░░░]");
    expect(renderBar(0, 40)).toBe("[░░░░░░░░░░]");
    expect(renderBar(39, 40)).toBe("[█████████░]");
    expect(renderBar(40, 40)).toBe("[██████████]");
    expect(renderBar(0, 0)).toBe("[░░░░░░░░░░]");
  });

  test("display width counts wide characters twice and combining marks not at all", () => {
    expect(displayWidth("load")).toBe(4);
    expect(displayWidth("読み込み")).toBe(8);
    expect(displayWidth("e\u0301")).toBe(1);
    expect(displayWidth("█░·…")).toBe(4);
  });

  test("truncate keeps within the width and marks the cut", () => {
    expect(truncate("extract, load", 20)).toBe("extract, load");
    expect(truncate("extract, load", 10)).toBe("extract, …");
    expect(displayWidth(truncate("読み込み読み込み", 7))).toBeLessThanOrEqual(7);
    expect(truncate("読み込み読み込み", 7)).toBe("読み込…");
    expect(truncate("abc", 0)).toBe("");
    expect(truncate("abc", 1)).toBe("…");
  });
});

describe("the TTY line", () => {
  const counts = { total: 40, done: 12, running: 3, failed: 1, notRun: 0, runningNames: ["extract", "load", "transform"] };

  test("the whole line when the terminal is wide", () => {
    expect(progressLine(counts, 7_000, 200)).toBe(
      "[███░░░░░░░] 12/40 done · 3 running · 1 failed · 00:07 · running: extract, load, transform",
    );
  });

  test("running names are cut to the width (one column spare, so the terminal never wraps)", () => {
    for (const width of [80, 75, 70, 62, 40, 20, 5, 1]) {
      const line = progressLine(counts, 7_000, width);
      expect(displayWidth(line)).toBeLessThanOrEqual(Math.max(1, width - 1));
    }
    expect(progressLine(counts, 7_000, 75)).toBe("[███░░░░░░░] 12/40 done · 3 running · 1 failed · 00:07 · running: extract…");
    expect(displayWidth(progressLine(counts, 7_000, 75))).toBe(74);
    expect(progressLine(counts, 7_000, 20)).toBe("[███░░░░░░░] 12/40…");
  });

  test("no names part when nothing runs", () => {
    expect(progressLine({ ...counts, running: 0, runningNames: [] }, 65_000, 120)).toBe("[███░░░░░░░] 12/40 done · 0 running · 1 failed · 01:05");
  });

  test("control characters in names cannot reach the terminal", () => {
    const line = progressLine({ ...counts, runningNames: ["a\u001b[2Jb"] }, 0, 200);
    expect(line).not.toContain("\u001b");
    expect(line).toEndWith("running: a?[2Jb");
  });
});

describe("plain lines", () => {
  test("a finished attempt: time of its end, state, duration; attempt number from the second on; why it failed", () => {
    const ok = attempt("extract", "SUCCESS", { startTime: iso(at(12, 0, 0)), endTime: iso(at(12, 0, 1, 200)) });
    expect(taskLine(ok, at(13, 0, 0))).toBe("12:00:01 task extract SUCCESS (1.2s)");
    const retried = attempt("load", "FAILURE", { attempt: 2, startTime: iso(at(12, 0, 2)), endTime: iso(at(12, 0, 5)), message: "exit code 3" });
    expect(taskLine(retried, at(13, 0, 0))).toBe("12:00:05 task load FAILURE (3.0s, attempt 2): exit code 3");
    const never = attempt("skipped", "KILL");
    expect(taskLine(never, at(13, 0, 0))).toBe("13:00:00 task skipped KILL");
  });

  test("only changes: newly ended attempts (in end order) then the instance's new state", () => {
    const a = attempt("a", "RUNNING_EXECUTION", { startTime: iso(at(12, 0, 0)) });
    const b = attempt("b", "RUNNING_EXECUTION", { startTime: iso(at(12, 0, 0)) });
    const first = view("RUNNING_EXECUTION", [a, b]);
    expect(changedLines(null, first, at(12, 0, 0))).toEqual(["12:00:00 workflow instance 7 RUNNING_EXECUTION"]);
    expect(changedLines(first, first, at(12, 0, 1))).toEqual([]);

    const bDone = { ...b, state: "SUCCESS", endTime: iso(at(12, 0, 2)) };
    const aDone = { ...a, state: "SUCCESS", endTime: iso(at(12, 0, 3)) };
    const second = view("SUCCESS", [aDone, bDone], { endTime: iso(at(12, 0, 3)) });
    expect(changedLines(first, second, at(12, 0, 4))).toEqual([
      "12:00:02 task b SUCCESS (2.0s)",
      "12:00:03 task a SUCCESS (3.0s)",
      "12:00:04 workflow instance 7 SUCCESS",
    ]);
    // Already reported: nothing again.
    expect(changedLines(second, second, at(12, 0, 5))).toEqual([]);
  });

  test("summary", () => {
    const v = view("FAILURE", [attempt("a", "SUCCESS"), attempt("b", "FAILURE")]);
    expect(summaryLine(v, countProgress(v, 3), 7_000)).toBe("workflow instance 7 FAILURE: 1/3 done · 1 not run · 1 failed · 00:07");
    const all = view("SUCCESS", [attempt("a", "SUCCESS"), attempt("b", "SUCCESS")]);
    expect(summaryLine(all, countProgress(all, 2), 1_000)).toBe("workflow instance 7 SUCCESS: 2/2 done · 0 failed · 00:01");
  });

  test("elapsed: server start to end once ended, else start to now, else since watching began", () => {
    expect(elapsedOf(view("SUCCESS", [], { startTime: iso(at(12, 0, 0)), endTime: iso(at(12, 0, 9)) }), 0, 0)).toBe(9_000);
    expect(elapsedOf(view("RUNNING_EXECUTION", [], { startTime: iso(at(12, 0, 0)) }), at(12, 0, 4).getTime(), 0)).toBe(4_000);
    expect(elapsedOf(view("SUBMITTED_SUCCESS", []), 5_000, 2_000)).toBe(3_000);
  });
});

describe("the driver", () => {
  function output(isTTY: boolean, columns = 80) {
    const written: string[] = [];
    return { written, out: { write: (t: string) => void written.push(t), isTTY, columns: () => columns } };
  }

  function sequence(views: InstanceView[]) {
    let i = 0;
    return async () => views[Math.min(i++, views.length - 1)] as InstanceView;
  }

  const t0 = iso(at(12, 0, 0));
  const running = view("RUNNING_EXECUTION", [{ id: 1, taskName: "a", state: "RUNNING_EXECUTION", attempt: 1, startTime: t0, endTime: null }], { startTime: t0 });
  const failedA = { id: 1, taskName: "a", state: "FAILURE", attempt: 1, startTime: t0, endTime: iso(at(12, 0, 1)), message: "exit code 1" };
  const ended = view("FAILURE", [failedA], { startTime: t0, endTime: iso(at(12, 0, 2)) });

  test("not a TTY: plain lines on change only, then the summary; returns the last view", async () => {
    const o = output(false);
    const last = await watchInstance({ fetchInstance: sequence([running, running, running, ended]), output: o.out, total: 2, intervalMs: 1, now: () => at(12, 0, 3).getTime() });
    expect(last.state).toBe("FAILURE");
    expect(o.written.join("")).toBe(
      [
        "12:00:03 workflow instance 7 RUNNING_EXECUTION",
        "12:00:01 task a FAILURE (1.0s): exit code 1",
        "12:00:03 workflow instance 7 FAILURE",
        "workflow instance 7 FAILURE: 0/2 done · 1 not run · 1 failed · 00:02",
        "",
      ].join("\n"),
    );
    expect(o.written.join("")).not.toContain("\r");
  });

  test("a TTY: the line is redrawn in place only when it changes, failures stay above it, and it ends with a newline", async () => {
    const o = output(true, 60);
    await watchInstance({ fetchInstance: sequence([running, running, ended]), output: o.out, total: 2, intervalMs: 1, now: () => at(12, 0, 3).getTime() });
    const redraws = o.written.filter((w) => w.startsWith("\r\x1b[K"));
    expect(redraws.length).toBe(2); // the second identical view drew nothing
    expect(redraws[0]).toBe("\r\x1b[K[░░░░░░░░░░] 0/2 done · 1 running · 0 failed · 00:03 · run…");
    expect(redraws[1]).toBe("\r\x1b[K12:00:01 task a FAILURE (1.0s): exit code 1\n[░░░░░░░░░░] 0/2 done · 1 not run · 0 running · 1 failed ·…");
    expect(o.written.slice(-2)).toEqual(["\n", "workflow instance 7 FAILURE: 0/2 done · 1 not run · 1 failed · 00:02\n"]);
    for (const w of redraws) for (const line of w.slice(4).split("\n")) expect(displayWidth(line)).toBeLessThan(60);
  });

  test("an abort stops watching a running instance", async () => {
    const o = output(false);
    const stop = new AbortController();
    let calls = 0;
    const last = await watchInstance({
      fetchInstance: async () => {
        if (++calls === 3) stop.abort();
        return running;
      },
      output: o.out,
      intervalMs: 1,
      signal: stop.signal,
    });
    expect(last.state).toBe("RUNNING_EXECUTION");
    expect(calls).toBe(3);
  });

  test("an error from the server ends the watch with that error", async () => {
    const o = output(false);
    const broken = async (): Promise<InstanceView> => {
      throw new Error("connection refused");
    };
    await expect(watchInstance({ fetchInstance: broken, output: o.out })).rejects.toThrow("connection refused");
  });
});

describe("porpoise status", () => {
  test("instance line, times, counts, params and a table of attempts in the server's order (DAG order, attempts oldest first)", () => {
    const v = view(
      "FAILURE",
      [
        { id: 10, taskName: "extract", state: "SUCCESS", attempt: 1, startTime: iso(at(12, 0, 0)), endTime: iso(at(12, 0, 1, 500)) },
        { id: 11, taskName: "load", state: "FAILURE", attempt: 1, startTime: iso(at(12, 0, 2)), endTime: iso(at(12, 0, 2, 300)), message: "exit code 1" },
        { id: 12, taskName: "load", state: "FAILURE", attempt: 2, startTime: iso(at(12, 0, 3)), endTime: iso(at(12, 0, 4)), message: "exit code 1" },
      ],
      { project: "default", workflowId: 3, workflowName: "nightly\u001b[2Jetl", workflowVersion: 2, startTime: iso(at(12, 0, 0)), endTime: iso(at(12, 0, 4)), params: { day: "2025-06-01" } },
    );
    expect(renderStatus(v, at(13, 0, 0).getTime())).toEqual([
      "workflow instance 7 FAILURE · workflow nightly?[2Jetl v2 · project default",
      "started 2025-06-01 12:00:00 · ended 2025-06-01 12:00:04 · 00:04",
      "tasks: 1 done · 0 running · 1 failed (of 2 started)",
      "params: day=2025-06-01",
      "",
      "TASK_INSTANCE_ID  TASK     ATTEMPT  STATE    DURATION  MESSAGE",
      "10                extract  1        SUCCESS  1.5s",
      "11                load     1        FAILURE  0.3s      exit code 1",
      "12                load     2        FAILURE  1.0s      exit code 1",
    ]);
  });

  test("the server's order is kept, not sorted by name or id (a task after its dependencies)", () => {
    const tasks = [
      { ...attempt("zz-extract", "SUCCESS"), id: 5 },
      { ...attempt("aa-load", "SUCCESS"), id: 4 },
    ];
    const table = renderStatus(view("SUCCESS", tasks), 0).filter((l) => /^\d/.test(l));
    expect(table.map((l) => l.split(/\s+/)[1])).toEqual(["zz-extract", "aa-load"]);
  });

  test("the instance's message, and its timezone when it is not UTC, get a line each", () => {
    const v = view("STOP", [], { timezone: "Asia/Tokyo", message: "stop by serial_discard strategy: workflow instance 6 is active\u001b[2J", params: { day: "1" } });
    expect(renderStatus(v, 0).slice(3, 6)).toEqual(["params: day=1", "timezone: Asia/Tokyo", "message: stop by serial_discard strategy: workflow instance 6 is active?[2J"]);
    expect(renderStatus(view("SUCCESS", [], { timezone: "UTC", message: null }), 0)).not.toContainEqual(expect.stringMatching(/^(timezone|message):/));
  });

  test("a server without workflowName (older API): the workflow by id", () => {
    expect(renderStatus(view("SUCCESS", [], { workflowId: 3, workflowVersion: 1 }), 0)[0]).toBe("workflow instance 7 SUCCESS · workflow #3 v1");
  });

  test("with the server's taskCount: done of the definition's tasks, and what did not run once ended", () => {
    const tasks = ["a", "b", "c", "d"].map((n, i) => ({ ...attempt(n, "SUCCESS"), id: i + 1 }));
    expect(renderStatus(view("SUCCESS", tasks, { taskCount: 5 }), 0)[2]).toBe("tasks: 4/5 done · 1 skipped · 0 running · 0 failed");
    expect(renderStatus(view("RUNNING_EXECUTION", tasks, { taskCount: 5 }), 0)[2]).toBe("tasks: 4/5 done · 0 running · 0 failed");
    expect(renderStatus(view("STOP", tasks.slice(0, 2), { taskCount: 5 }), 0)[2]).toBe("tasks: 2/5 done · 3 not run · 0 running · 0 failed");
  });

  test("exit codes: 0 SUCCESS, 1 ended otherwise, 3 not ended yet", () => {
    expect(statusExitCode("SUCCESS")).toBe(0);
    for (const s of ["FAILURE", "STOP", "PAUSE"]) expect({ s, code: statusExitCode(s) }).toEqual({ s, code: 1 });
    for (const s of ["SUBMITTED_SUCCESS", "RUNNING_EXECUTION", "READY_PAUSE", "READY_STOP", "DELAY_EXECUTION", "SERIAL_WAIT"]) {
      expect({ s, code: statusExitCode(s) }).toEqual({ s, code: 3 });
    }
  });

  test("an instance with no task yet", () => {
    expect(renderStatus(view("SUBMITTED_SUCCESS", []), 0)).toEqual([
      "workflow instance 7 SUBMITTED_SUCCESS",
      "started - · ended - · not started",
      "tasks: 0 done · 0 running · 0 failed (of 0 started)",
      "",
      "no task has started yet",
    ]);
  });
});
