// The Bus contract (src/bus/bus.ts), run against every implementation: call
// busContract(name, makeHarness) from a test file. A harness gives clients of
// one shared bus (a Redis harness: separate connections on one fresh key
// prefix; the memory harness: the same object) and closes them on dispose.

import { describe, expect, test } from "bun:test";
import type { Bus, ReadyTask } from "../../../src/bus/bus.ts";
import { ValidationError } from "../../../src/core/errors.ts";
import { track, turn, waitFor } from "./wait.ts";

export interface BusHarness extends AsyncDisposable {
  /** Another client of the same queues and channels. */
  client(): Promise<Bus>;
}

let nextId = 1;
export function readyTask(over: Partial<ReadyTask> = {}): ReadyTask {
  const id = nextId++;
  return {
    taskInstanceId: id,
    workflowInstanceId: 1,
    attempt: 1,
    token: `tok-${id}`,
    instancePriority: 2,
    priority: 2,
    workerGroup: "default",
    enqueuedAt: 1_700_000_000_000,
    ...over,
  };
}

const ids = (tasks: ReadyTask[]) => tasks.map((t) => t.taskInstanceId);

async function expectValidation(promise: Promise<unknown>, path: string): Promise<ValidationError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected a ValidationError on "${path}", but the call succeeded`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  const v = err as ValidationError;
  expect(v.details.map((d) => d.path)).toContain(path);
  expect(v.message).toContain(path);
  return v;
}

export function busContract(name: string, makeHarness: () => Promise<BusHarness>): void {
  describe(`Bus contract: ${name}`, () => {
    test("serves priority 0 (HIGHEST) to 4 (LOWEST), FIFO within a priority", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const order: Array<0 | 1 | 2 | 3 | 4> = [3, 0, 4, 1, 2, 0, 4, 3, 1, 2];
      const sent = order.map((priority) => readyTask({ priority }));
      for (const t of sent) await bus.enqueue("default", t);
      const got = await bus.pull(["default"], 100);
      const expected = [...sent].sort((a, b) => a.priority - b.priority || a.taskInstanceId - b.taskInstanceId);
      expect(ids(got)).toEqual(ids(expected));
      expect(got).toEqual(expected);
    });

    test("serves by run priority (instancePriority) first, then task priority, FIFO within equal pairs", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      type P = ReadyTask["priority"];
      // [instancePriority, priority]: a HIGHEST task of a LOW run must wait behind a LOWEST task of a HIGH run.
      const pairs: Array<[P, P]> = [[3, 0], [1, 4], [3, 0], [0, 4], [1, 0], [4, 0], [0, 2], [1, 4], [3, 3], [0, 2], [2, 2]];
      const sent = pairs.map(([instancePriority, priority]) => readyTask({ instancePriority, priority }));
      for (const t of sent) await bus.enqueue("default", t);
      const got = await bus.pull(["default"], 100);
      const rank = (t: ReadyTask) => [t.instancePriority, t.priority];
      expect(got.map(rank)).toEqual([[0, 2], [0, 2], [0, 4], [1, 0], [1, 4], [1, 4], [2, 2], [3, 0], [3, 0], [3, 3], [4, 0]]);
      const expected = [...sent].sort((a, b) => a.instancePriority - b.instancePriority || a.priority - b.priority || a.taskInstanceId - b.taskInstanceId);
      expect(ids(got)).toEqual(ids(expected));
      expect(got).toEqual(expected);
    });

    test("run priority also orders across the groups of one pull", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const lowRunTopTask = readyTask({ workerGroup: "a", instancePriority: 3, priority: 0 });
      const highRunLowTask = readyTask({ workerGroup: "b", instancePriority: 1, priority: 4 });
      await bus.enqueue("a", lowRunTopTask);
      await bus.enqueue("b", highRunLowTask);
      expect(ids(await bus.pull(["a", "b"], 1))).toEqual(ids([highRunLowTask]));
      expect(ids(await bus.pull(["a", "b"], 1))).toEqual(ids([lowRunTopTask]));
    });

    test("keeps FIFO order across many pulls and honours max", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const sent = Array.from({ length: 100 }, () => readyTask());
      for (const t of sent) await bus.enqueue("default", t);
      const got: ReadyTask[] = [];
      while (got.length < sent.length) {
        const batch = await bus.pull(["default"], 7);
        expect(batch.length).toBeGreaterThan(0);
        expect(batch.length).toBeLessThanOrEqual(7);
        got.push(...batch);
      }
      expect(ids(got)).toEqual(ids(sent));
      expect(await bus.depth("default")).toBe(0);
    });

    test("isolates worker groups and orders across the groups of one pull", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const a1 = readyTask({ workerGroup: "a", priority: 2 });
      const b1 = readyTask({ workerGroup: "b", priority: 1 });
      const a2 = readyTask({ workerGroup: "a", priority: 1 });
      const c1 = readyTask({ workerGroup: "c", priority: 0 });
      for (const t of [a1, b1, a2, c1]) await bus.enqueue(t.workerGroup, t);
      expect(ids(await bus.pull(["a"], 1))).toEqual([a2.taskInstanceId]);
      expect(await bus.depth("b")).toBe(1);
      expect(await bus.depth("c")).toBe(1);
      expect(ids(await bus.pull(["b", "a"], 10))).toEqual([b1.taskInstanceId, a1.taskInstanceId]);
      expect(await bus.depth("c")).toBe(1);
      expect(ids(await bus.pull(["c"], 10))).toEqual([c1.taskInstanceId]);
    });

    test("a waiting pull is woken by enqueue from another client, and only for its groups", async () => {
      await using h = await makeHarness();
      const worker = await h.client();
      const master = await h.client();
      const waiting = track(worker.pull(["default"], 4));
      await master.enqueue("other", readyTask({ workerGroup: "other" }));
      await master.depth("other");
      await turn();
      expect(waiting.settled).toBe(false);
      const task = readyTask();
      await master.enqueue("default", task);
      expect(await waiting.promise).toEqual([task]);
      expect(await master.depth("other")).toBe(1);
    });

    test("abort resolves a waiting pull with [] and loses no later task", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const ac = new AbortController();
      const waiting = track(bus.pull(["default"], 4, ac.signal));
      await turn();
      expect(waiting.settled).toBe(false);
      ac.abort();
      expect(await waiting.promise).toEqual([]);
      const task = readyTask();
      await bus.enqueue("default", task);
      expect(await bus.depth("default")).toBe(1);
      expect(await bus.pull(["default"], 4)).toEqual([task]);
    });

    test("an already aborted pull takes nothing even when tasks wait", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      await bus.enqueue("default", readyTask());
      expect(await bus.pull(["default"], 4, AbortSignal.abort())).toEqual([]);
      expect(await bus.depth("default")).toBe(1);
    });

    test("concurrent pullers get every task exactly once", async () => {
      await using h = await makeHarness();
      const producer = await h.client();
      const consumers = await Promise.all(Array.from({ length: 4 }, () => h.client()));
      const total = 2_000;
      const received: number[] = [];
      const ac = new AbortController();
      const pullers = Array.from({ length: 24 }, async (_, i) => {
        const bus = consumers[i % consumers.length]!;
        while (!ac.signal.aborted) {
          const batch = await bus.pull(["default", "spare"], 1 + (i % 5), ac.signal);
          for (const t of batch) received.push(t.taskInstanceId);
          if (received.length >= total) ac.abort();
        }
      });
      const sent: number[] = [];
      for (let i = 0; i < total; i++) {
        const group = i % 3 === 0 ? "spare" : "default";
        const t = readyTask({ workerGroup: group, priority: (i % 5) as 0 | 1 | 2 | 3 | 4 });
        sent.push(t.taskInstanceId);
        const p = producer.enqueue(group, t);
        if (i % 50 === 0) await p;
      }
      await waitFor(() => received.length >= total, `${total} tasks received (have ${received.length})`, 20_000);
      ac.abort();
      await Promise.all(pullers);
      expect(received.length).toBe(total);
      expect(new Set(received).size).toBe(total);
      expect([...received].sort((a, b) => a - b)).toEqual(sent);
      expect(await producer.depth("default")).toBe(0);
      expect(await producer.depth("spare")).toBe(0);
    });

    test("rejects malformed tasks naming the field, and keeps what is queued", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const kept = readyTask();
      await bus.enqueue("default", kept);
      const bad = (over: Record<string, unknown>) => ({ ...readyTask(), ...over }) as ReadyTask;
      await expectValidation(bus.enqueue("default", bad({ priority: 5 })), "priority");
      await expectValidation(bus.enqueue("default", bad({ instancePriority: 5 })), "instancePriority");
      await expectValidation(bus.enqueue("default", bad({ instancePriority: undefined })), "instancePriority");
      await expectValidation(bus.enqueue("default", bad({ attempt: 0 })), "attempt");
      await expectValidation(bus.enqueue("default", bad({ token: "" })), "token");
      await expectValidation(bus.enqueue("default", bad({ taskInstanceId: 1.5 })), "taskInstanceId");
      await expectValidation(bus.enqueue("default", bad({ taskInstanceId: undefined })), "taskInstanceId");
      await expectValidation(bus.enqueue("default", bad({ extra: 1 })), "extra");
      await expectValidation(bus.enqueue("default", bad({ workerGroup: "other" })), "workerGroup");
      await expectValidation(bus.enqueue(" padded", bad({ workerGroup: " padded" })), "group");
      await expectValidation(bus.pull(["ok", "tab\there"], 1), "groups.1");
      await expectValidation(bus.depth(""), "group");
      await expectValidation(bus.subscribe("", () => {}), "channel");
      await expectValidation(bus.publish("events", 42 as unknown as string), "message");
      await expectValidation(bus.pull([], 1), "groups");
      await expectValidation(bus.pull(["default"], 0), "max");
      await expectValidation(bus.pull(["default"], 1.5), "max");
      expect(await bus.depth("default")).toBe(1);
      expect(await bus.pull(["default"], 10)).toEqual([kept]);
    });

    test("publish reaches every subscriber of the channel in order, after publish returns", async () => {
      await using h = await makeHarness();
      const a = await h.client();
      const b = await h.client();
      const gotA: string[] = [];
      const gotB: string[] = [];
      const gotOther: string[] = [];
      await a.subscribe("events", (m) => gotA.push(m));
      await b.subscribe("events", (m) => gotB.push(m));
      await b.subscribe("other", (m) => gotOther.push(m));
      const sent = Array.from({ length: 50 }, (_, i) => JSON.stringify({ i, text: "ü ✓" }));
      for (const m of sent) void a.publish("events", m);
      expect(gotA).toEqual([]);
      await waitFor(() => gotA.length === 50 && gotB.length === 50, "50 messages on both subscribers");
      expect(gotA).toEqual(sent);
      expect(gotB).toEqual(sent);
      expect(gotOther).toEqual([]);
    });

    test("unsubscribe stops delivery; a throwing handler does not stop the others", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const kept: string[] = [];
      const dropped: string[] = [];
      await bus.subscribe("wake", () => {
        throw new Error("handler bug");
      });
      const unsubscribe = await bus.subscribe("wake", (m) => dropped.push(m));
      await bus.subscribe("wake", (m) => kept.push(m));
      await bus.publish("wake", "one");
      await waitFor(() => kept.length === 1, "first message");
      unsubscribe();
      await bus.publish("wake", "two");
      await waitFor(() => kept.length === 2, "second message");
      expect(kept).toEqual(["one", "two"]);
      expect(dropped).toEqual(["one"]);
      await expectValidation(bus.publish("", "x"), "channel");
    });

    test("close resolves pending pulls with [] and rejects later calls", async () => {
      const h = await makeHarness();
      const bus = await h.client();
      const waiting = bus.pull(["default"], 1);
      await turn();
      await bus.close();
      expect(await waiting).toEqual([]);
      const err = await bus.enqueue("default", readyTask()).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe("BUS_CLOSED");
      await h[Symbol.asyncDispose]();
    });
  });
}
