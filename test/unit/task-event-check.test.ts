// parseTaskEvent and readTaskEventJson have a hand-written check in front of zod
// (src/core/task-event-check.ts). It must never accept what the schema rejects, nor return
// anything but what zod would; and it must take the events workers really send, or it saves nothing.
import { expect, test } from "bun:test";
import { agreesWithZod } from "../helpers/agree-with-zod.ts";
import { type DoneEvent, parseTaskEvent, readTaskEventJson, taskEventSchema } from "../../src/core/messages.ts";
import { quickTaskEvent } from "../../src/core/task-event-check.ts";

const ref = { taskInstanceId: 7, workflowInstanceId: 3, slot: 5, epoch: 1, attempt: 1, token: "tok" };
const running = { ...ref, kind: "running", host: "w1", logPath: "/var/log/a.log", startTime: "2026-12-05T10:00:00.000Z" };
const done = { ...ref, kind: "done", state: "SUCCESS", exitCode: 0, output: { rows: "12" }, message: null, endTime: "2026-12-05T10:00:01.000Z" };
const doneFolded = { ...done, host: "w1", logPath: null, startTime: "2026-12-05T10:00:00.500Z" };
const warning = { ...ref, kind: "warning", message: "still running" };

const odd: unknown[] = [
  0, 1, 4095, 4096, -1, 1.5, 1_000_000, 1_000_001, 2 ** 31 - 1, 2 ** 31, 2 ** 53 - 1, 2 ** 53, Number.NaN, Infinity, -0,
  "", "x", "x".repeat(200), "x".repeat(201), "x".repeat(500), "x".repeat(501), "x".repeat(4097), "x".repeat(64 * 1024 + 1),
  "running", "done", "warning", "SUCCESS", "FAILURE", "KILL", "PAUSE", "NEED_FAULT_TOLERANCE", "RUNNING_EXECUTION",
  "2026-12-05T10:00:00Z", "not a date", "2026-13-45", 1_700_000_000_000, new Date(0), new Date(Number.NaN),
  null, undefined, true, {}, [], ["a"], { a: "b" }, { a: 1 }, { a: null }, Object.create({ a: "b" }), JSON.parse('{"__proto__":"x"}'),
];

function agree(input: unknown): void {
  const zod = taskEventSchema.safeParse(input);
  const quick = quickTaskEvent(input);
  // The quick check only takes what zod takes, and gives what zod gives.
  if (quick !== null) expect({ input, zod: zod.success, data: zod.success ? zod.data : null }).toEqual({ input, zod: true, data: quick });
  agreesWithZod(taskEventSchema, parseTaskEvent, input);
}

test("the events workers send take the quick path, with the dates as Dates", () => {
  for (const e of [running, done, doneFolded, { ...done, state: "FAILURE", exitCode: 2, message: "exit 2", output: {} }]) {
    const quick = quickTaskEvent(e);
    expect(quick).not.toBeNull();
    expect(quick).toEqual(taskEventSchema.parse(e));
  }
  // As a worker builds it in memory (Date objects), and as the master reads it back from Redis (JSON).
  const inMemory = { ...done, endTime: new Date("2026-12-05T10:00:01.000Z") };
  expect(quickTaskEvent(inMemory)).toEqual(taskEventSchema.parse(inMemory));
  expect(readTaskEventJson(JSON.stringify(inMemory))).toEqual(taskEventSchema.parse(inMemory));
  expect(quickTaskEvent(warning)).toBeNull();
  expect(parseTaskEvent(warning)).toEqual(taskEventSchema.parse(warning));
});

test("agrees with the zod schema on every single-field mutation of every kind of event", () => {
  for (const valid of [running, done, doneFolded, warning] as Record<string, unknown>[]) {
    agree(valid);
    for (const key of [...Object.keys(valid), "host", "logPath", "startTime", "extra"]) {
      for (const value of odd) agree({ ...valid, [key]: value });
      const { [key]: _, ...missing } = valid;
      agree(missing);
    }
  }
  for (const input of [null, undefined, 5, "event", [], [done], Object.create(done), Object.assign(Object.create({ inherited: 1 }), done)]) agree(input);
});

test("readTaskEventJson: what is not JSON or not an event is null; a valid one equals the schema's output", () => {
  expect(readTaskEventJson("{")).toBeNull();
  expect(readTaskEventJson(JSON.stringify({ ...done, slot: -1 }))).toBeNull();
  expect(readTaskEventJson(JSON.stringify({ ...done, extra: 1 }))).toBeNull();
  expect(readTaskEventJson(JSON.stringify(warning))).toEqual(taskEventSchema.parse(warning));
  expect(readTaskEventJson(JSON.stringify(doneFolded))).toEqual(taskEventSchema.parse(doneFolded));
});

test("returns a copy: the caller's output record is not shared", () => {
  const input = { ...done, output: { a: "b" } };
  const out = parseTaskEvent(input) as DoneEvent;
  expect(out.output).toEqual(input.output);
  expect(out.output).not.toBe(input.output);
});
