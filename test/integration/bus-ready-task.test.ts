// parseReadyTask has a hand-written fast path in front of zod. It must never
// accept what the schema rejects, nor return anything but what zod would.
import { expect, test } from "bun:test";
import { isWorkerGroup, parseReadyTask, readyTaskSchema, workerGroupSchema } from "../../src/bus/bus.ts";
import { agreesWithZod } from "../helpers/agree-with-zod.ts";

const valid = {
  taskInstanceId: 7,
  workflowInstanceId: 3,
  slot: 5,
  epoch: 1,
  attempt: 1,
  token: "tok",
  instancePriority: 1,
  priority: 2,
  workerGroup: "default",
  enqueuedAt: 1_700_000_000_000,
} as const;

const odd: unknown[] = [
  0, 1, 2, 4, 5, -1, 1.5, 1_000_000, 1_000_001, 2 ** 53 - 1, 2 ** 53, Number.NaN, Infinity, -Infinity, -0,
  "", "1", "x".repeat(200), "x".repeat(201), "a b", "gpu.large", "-x", "ü", "😀".repeat(100), "😀".repeat(101),
  " x", "x ", "a\tb", "a\u0085b", "\u00a0x", "x\u2028", "a\u007fb", "gpu pool/eu", "eu\u202Ex", "a\u2066b", "z\u200Bw", ".", "..", "a.b", null, undefined, true, {}, [], [1], 10n,
];

const agree = (input: unknown) => agreesWithZod(readyTaskSchema, parseReadyTask, input);

test("agrees with the zod schema on every single-field mutation", () => {
  agree(valid);
  for (const key of Object.keys(valid)) {
    for (const value of odd) agree({ ...valid, [key]: value });
    const { [key as keyof typeof valid]: _, ...missing } = valid;
    agree(missing);
  }
  for (const input of [null, undefined, 5, "task", [], [valid], { ...valid, extra: 1 }, Object.create(valid)]) agree(input);
  const withProto = Object.assign(Object.create({ inherited: 1 }), valid);
  agree(withProto);
});

test("agrees with the zod schema on every pair of run and task priority, and on a missing or bad run priority", () => {
  for (const instancePriority of [0, 1, 2, 3, 4, 5, -1]) {
    for (const priority of [0, 1, 2, 3, 4, 5]) agree({ ...valid, instancePriority, priority });
  }
  const { instancePriority: _, ...legacy } = valid;
  agree(legacy);
  agree({ ...legacy, extra: 1 }); // eight keys, but not the eight the schema names
  expect(() => parseReadyTask(legacy)).toThrow(/instancePriority/);
  expect(() => parseReadyTask({ ...valid, instancePriority: "HIGH" })).toThrow(/instancePriority.*expected a priority from 0 \(HIGHEST\) to 4 \(LOWEST\)/);
  expect(parseReadyTask({ ...valid, instancePriority: 4, priority: 0 })).toMatchObject({ instancePriority: 4, priority: 0 });
});

test("the cheap worker-group check never accepts a name the workflow schema refuses", () => {
  for (const value of odd) {
    if (isWorkerGroup(value)) expect({ value, ok: workerGroupSchema.safeParse(value).success }).toEqual({ value, ok: true });
  }
  expect(isWorkerGroup("gpu pool")).toBe(true);
});

test("returns a copy, never the caller's object", () => {
  const input = { ...valid };
  const out = parseReadyTask(input);
  expect(out).toEqual(input);
  expect(out).not.toBe(input);
});
