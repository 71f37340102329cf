// The Bus contract (src/bus/bus.ts), run against every implementation: call
// busContract(name, makeHarness) from a test file. A harness gives clients of
// one shared bus (a Redis harness: separate connections on one fresh key
// prefix; the memory harness: the same object) and closes them on dispose.
// `claimLeaseMs` is the claim lease of every client of that harness (tests of
// the lease pass a short one).
//
// Delivery is at least once by design (docs/architecture.md §3.4): a task whose
// lease ends is offered again, and a slot's new owner gets every unacked event,
// also ones its previous owner already handled. Consumers tolerate duplicates
// and tasks may come back after later ones; these tests check what must hold
// (nothing acked comes back, nothing unacked is lost, order within a slot), not
// that duplicates never happen.

import { describe, expect, test } from "bun:test";
import type { Bus, DeliveredEvent, ReadyTask } from "../../../src/bus/bus.ts";
import { ValidationError } from "../../../src/core/errors.ts";
import type { KillMessage, TaskEvent, WakeMessage } from "../../../src/core/messages.ts";
import { track, turn, waitFor } from "./wait.ts";

export interface BusHarness extends AsyncDisposable {
  /** Another client of the same queues, streams and channels. */
  client(): Promise<Bus>;
}

export interface BusHarnessOptions {
  claimLeaseMs?: number;
}

let nextId = 1;
export function readyTask(over: Partial<ReadyTask> = {}): ReadyTask {
  const id = nextId++;
  return {
    taskInstanceId: id,
    workflowInstanceId: 1,
    slot: 0,
    epoch: 1,
    attempt: 1,
    token: `tok-${id}`,
    instancePriority: 2,
    priority: 2,
    workerGroup: "default",
    enqueuedAt: 1_700_000_000_000,
    ...over,
  };
}

let nextEventId = 1;
/** A RUNNING event of slot `slot`; `n` ends up in taskInstanceId so tests can tell events apart. */
export function taskEvent(slot: number, n = nextEventId++): TaskEvent {
  return {
    kind: "running",
    taskInstanceId: n,
    workflowInstanceId: 7,
    slot,
    epoch: 3,
    attempt: 1,
    token: `ev-${n}`,
    host: "worker-1",
    logPath: null,
    startTime: new Date(1_700_000_000_000 + n),
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

export function busContract(name: string, makeHarness: (opts?: BusHarnessOptions) => Promise<BusHarness>): void {
  describe(`Bus contract: ${name}`, () => {
    test("serves priority 0 (HIGHEST) to 4 (LOWEST), FIFO within a priority", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const order: Array<0 | 1 | 2 | 3 | 4> = [3, 0, 4, 1, 2, 0, 4, 3, 1, 2];
      const sent = order.map((priority) => readyTask({ priority }));
      for (const t of sent) await bus.enqueue("default", t);
      const got = await bus.claim(["default"], 100);
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
      const got = await bus.claim(["default"], 100);
      const rank = (t: ReadyTask) => [t.instancePriority, t.priority];
      expect(got.map(rank)).toEqual([[0, 2], [0, 2], [0, 4], [1, 0], [1, 4], [1, 4], [2, 2], [3, 0], [3, 0], [3, 3], [4, 0]]);
      const expected = [...sent].sort((a, b) => a.instancePriority - b.instancePriority || a.priority - b.priority || a.taskInstanceId - b.taskInstanceId);
      expect(ids(got)).toEqual(ids(expected));
      expect(got).toEqual(expected);
    });

    test("run priority also orders across the groups of one claim", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const lowRunTopTask = readyTask({ workerGroup: "a", instancePriority: 3, priority: 0 });
      const highRunLowTask = readyTask({ workerGroup: "b", instancePriority: 1, priority: 4 });
      await bus.enqueue("a", lowRunTopTask);
      await bus.enqueue("b", highRunLowTask);
      expect(ids(await bus.claim(["a", "b"], 1))).toEqual(ids([highRunLowTask]));
      expect(ids(await bus.claim(["a", "b"], 1))).toEqual(ids([lowRunTopTask]));
    });

    test("enqueues issued at once (a group commit's successors, two groups) keep priority then call order", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const order: Array<0 | 1 | 2 | 3 | 4> = Array.from({ length: 600 }, (_, i) => ((i * 7) % 5) as 0 | 1 | 2 | 3 | 4);
      const sent = order.map((priority, i) => readyTask({ priority, workerGroup: i % 3 === 0 ? "b" : "a" }));
      // Not awaited one by one: issued in one turn, as the master's after-commit effects are.
      await Promise.all(sent.map((t) => bus.enqueue(t.workerGroup, t)));
      expect(await bus.depth("a")).toBe(sent.filter((t) => t.workerGroup === "a").length);
      expect(await bus.depth("b")).toBe(sent.filter((t) => t.workerGroup === "b").length);
      for (const group of ["a", "b"]) {
        const mine = sent.filter((t) => t.workerGroup === group);
        const expected = [...mine].sort((x, y) => x.priority - y.priority || x.taskInstanceId - y.taskInstanceId);
        const got: ReadyTask[] = [];
        while (got.length < mine.length) got.push(...(await bus.claim([group], 250)));
        expect(ids(got)).toEqual(ids(expected));
      }
    });

    test("keeps FIFO order across many claims and honours max", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const sent = Array.from({ length: 100 }, () => readyTask());
      for (const t of sent) await bus.enqueue("default", t);
      const got: ReadyTask[] = [];
      while (got.length < sent.length) {
        const batch = await bus.claim(["default"], 7);
        expect(batch.length).toBeGreaterThan(0);
        expect(batch.length).toBeLessThanOrEqual(7);
        got.push(...batch);
      }
      expect(ids(got)).toEqual(ids(sent));
      expect(await bus.depth("default")).toBe(0);
    });

    test("isolates worker groups and orders across the groups of one claim", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const a1 = readyTask({ workerGroup: "a", priority: 2 });
      const b1 = readyTask({ workerGroup: "b", priority: 1 });
      const a2 = readyTask({ workerGroup: "a", priority: 1 });
      const c1 = readyTask({ workerGroup: "c", priority: 0 });
      for (const t of [a1, b1, a2, c1]) await bus.enqueue(t.workerGroup, t);
      expect(ids(await bus.claim(["a"], 1))).toEqual([a2.taskInstanceId]);
      expect(await bus.depth("b")).toBe(1);
      expect(await bus.depth("c")).toBe(1);
      expect(ids(await bus.claim(["b", "a"], 10))).toEqual([b1.taskInstanceId, a1.taskInstanceId]);
      expect(await bus.depth("c")).toBe(1);
      expect(ids(await bus.claim(["c"], 10))).toEqual([c1.taskInstanceId]);
    });

    test("a waiting claim is woken by enqueue from another client, and only for its groups", async () => {
      await using h = await makeHarness();
      const worker = await h.client();
      const master = await h.client();
      const waiting = track(worker.claim(["default"], 4));
      await master.enqueue("other", readyTask({ workerGroup: "other" }));
      await master.depth("other");
      await turn();
      expect(waiting.settled).toBe(false);
      const task = readyTask();
      await master.enqueue("default", task);
      expect(await waiting.promise).toEqual([task]);
      expect(await master.depth("other")).toBe(1);
    });

    test("abort resolves a waiting claim with [] and loses no later task", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const ac = new AbortController();
      const waiting = track(bus.claim(["default"], 4, ac.signal));
      await turn();
      expect(waiting.settled).toBe(false);
      ac.abort();
      expect(await waiting.promise).toEqual([]);
      const task = readyTask();
      await bus.enqueue("default", task);
      expect(await bus.depth("default")).toBe(1);
      expect(await bus.claim(["default"], 4)).toEqual([task]);
    });

    test("an already aborted claim takes nothing even when tasks wait", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      await bus.enqueue("default", readyTask());
      expect(await bus.claim(["default"], 4, AbortSignal.abort())).toEqual([]);
      expect(await bus.depth("default")).toBe(1);
    });

    test("concurrent claimers get every task exactly once", async () => {
      await using h = await makeHarness();
      const producer = await h.client();
      const consumers = await Promise.all(Array.from({ length: 4 }, () => h.client()));
      const total = 2_000;
      const received: number[] = [];
      const ac = new AbortController();
      const claimers = Array.from({ length: 24 }, async (_, i) => {
        const bus = consumers[i % consumers.length]!;
        while (!ac.signal.aborted) {
          const batch = await bus.claim(["default", "spare"], 1 + (i % 5), ac.signal);
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
      await Promise.all(claimers);
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
      await expectValidation(bus.claim(["ok", "tab\there"], 1), "groups.1");
      await expectValidation(bus.depth(""), "group");
      await expectValidation(bus.subscribe("", () => {}), "channel");
      await expectValidation(bus.publish("events", 42 as unknown as string), "message");
      await expectValidation(bus.claim([], 1), "groups");
      await expectValidation(bus.claim(["default"], 0), "max");
      await expectValidation(bus.claim(["default"], 1.5), "max");
      expect(await bus.depth("default")).toBe(1);
      expect(await bus.claim(["default"], 10)).toEqual([kept]);
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

    test("close resolves pending claims with [] and rejects later calls", async () => {
      const h = await makeHarness();
      const bus = await h.client();
      const waiting = bus.claim(["default"], 1);
      await turn();
      await bus.close();
      expect(await waiting).toEqual([]);
      const err = await bus.enqueue("default", readyTask()).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe("BUS_CLOSED");
      await h[Symbol.asyncDispose]();
    });

    // ── claims, acks and the visibility lease ──────────────────────────────────────────

    test("claim + ack: an acked task is not offered again when the lease ends; an unacked one is, to any claimer, in its old place", async () => {
      await using h = await makeHarness({ claimLeaseMs: 300 });
      const first = await h.client();
      const second = await h.client();
      const [a, b, c] = [readyTask(), readyTask(), readyTask()];
      for (const t of [a, b, c]) await first.enqueue("default", t);
      expect(ids(await first.claim(["default"], 2))).toEqual(ids([a, b]));
      expect(await first.depth("default")).toBe(1);
      await first.ack([a]);
      // Neither a (acked) nor b (claimed, lease running) is waiting: c comes first…
      expect(await second.claim(["default"], 10)).toEqual([c]);
      await second.ack([c]);
      // …and b comes back once its lease ends, to another client; a never does.
      expect(await second.claim(["default"], 10)).toEqual([b]);
      await second.ack([b]);
      const ac = new AbortController();
      const late = track(second.claim(["default"], 10, ac.signal));
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(late.settled).toBe(false);
      ac.abort();
      expect(await late.promise).toEqual([]);
      expect(await first.depth("default")).toBe(0);
    });

    test("an expired claim goes back in front of later tasks of its priority", async () => {
      await using h = await makeHarness({ claimLeaseMs: 200 });
      const bus = await h.client();
      const [a, b] = [readyTask(), readyTask()];
      await bus.enqueue("default", a);
      await bus.enqueue("default", b);
      expect(await bus.claim(["default"], 1)).toEqual([a]);
      expect(await bus.depth("default")).toBe(1);
      // The lease is the one thing measured in time here: let it pass, then a comes before b, as enqueued.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(ids(await bus.claim(["default"], 2))).toEqual(ids([a, b]));
    });

    test("ack of unknown tasks (never enqueued, or acked twice) is harmless", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const kept = readyTask();
      await bus.enqueue("default", kept);
      await bus.ack([readyTask(), readyTask({ workerGroup: "nobody-serves-this" })]);
      await bus.ack([]);
      expect(await bus.depth("default")).toBe(1);
      const [got] = await bus.claim(["default"], 1);
      expect(got).toEqual(kept);
      await bus.ack([got!]);
      await bus.ack([got!]);
      expect(await bus.depth("default")).toBe(0);
    });

    // ── per-slot event streams ─────────────────────────────────────────────────────────

    test("events of a slot reach its consumer in order, in batches; consumers of other slots get none", async () => {
      await using h = await makeHarness();
      const worker = await h.client();
      const master = await h.client();
      const other = await h.client();
      const got: DeliveredEvent[] = [];
      const gotOther: DeliveredEvent[] = [];
      const consumer = master.consumeEvents("master-a", (events) => got.push(...events));
      const otherConsumer = other.consumeEvents("master-b", (events) => gotOther.push(...events));
      consumer.setSlots([5]);
      otherConsumer.setSlots([6]);
      const sent = Array.from({ length: 100 }, () => taskEvent(5));
      for (const e of sent) void worker.publishEvent(5, e);
      const marker = taskEvent(6);
      await worker.publishEvent(6, marker);
      await waitFor(() => got.length === 100 && gotOther.length === 1, `100 events on slot 5 (have ${got.length}) and 1 on slot 6`);
      expect(got.map((d) => d.event)).toEqual(sent);
      expect(got.every((d) => d.slot === 5)).toBe(true);
      expect(new Set(got.map((d) => d.id)).size).toBe(100);
      expect(gotOther.map((d) => d.event)).toEqual([marker]);
      await master.ackEvents(got);
      await other.ackEvents(gotOther);
      await consumer.close();
      await otherConsumer.close();
    });

    test("a new owner of a slot gets its unacked events (also ones handled before), never acked ones, then new ones", async () => {
      await using h = await makeHarness();
      const worker = await h.client();
      const oldMaster = await h.client();
      const newMaster = await h.client();
      const seenOld: DeliveredEvent[] = [];
      const before = oldMaster.consumeEvents("master-old", (events) => seenOld.push(...events));
      before.setSlots([9]);
      const [e1, e2, e3] = [taskEvent(9), taskEvent(9), taskEvent(9)];
      for (const e of [e1, e2, e3]) await worker.publishEvent(9, e);
      await waitFor(() => seenOld.length === 3, "3 events at the old owner");
      await oldMaster.ackEvents([seenOld[0]!]);
      await before.close(); // the old owner dies with e2 and e3 unacked

      const seenNew: DeliveredEvent[] = [];
      const after = newMaster.consumeEvents("master-new", (events) => seenNew.push(...events));
      after.setSlots([9]);
      await waitFor(() => seenNew.length === 2, `e2 and e3 redelivered (have ${seenNew.length})`);
      // Duplicates by design: the old owner saw e2 and e3 too; their ids stay the same.
      expect(seenNew.map((d) => d.event)).toEqual([e2, e3]);
      expect(seenNew.map((d) => d.id)).toEqual(seenOld.slice(1).map((d) => d.id));
      const e4 = taskEvent(9);
      await worker.publishEvent(9, e4);
      await waitFor(() => seenNew.length === 3, "e4 at the new owner");
      expect(seenNew[2]!.event).toEqual(e4);
      await newMaster.ackEvents(seenNew);
      await after.close();

      // Everything acked: a third owner gets nothing old.
      const seenThird: DeliveredEvent[] = [];
      const third = oldMaster.consumeEvents("master-third", (events) => seenThird.push(...events));
      third.setSlots([9]);
      const e5 = taskEvent(9);
      await worker.publishEvent(9, e5);
      await waitFor(() => seenThird.length >= 1, "e5 at the third owner");
      await turn();
      expect(seenThird.map((d) => d.event)).toEqual([e5]);
      await third.close();
    });

    test("events published before anyone consumes the slot wait in its stream", async () => {
      await using h = await makeHarness();
      const worker = await h.client();
      const master = await h.client();
      const early = [taskEvent(11), taskEvent(11)];
      for (const e of early) await worker.publishEvent(11, e);
      const got: DeliveredEvent[] = [];
      const consumer = master.consumeEvents("master-late", (events) => got.push(...events));
      consumer.setSlots([11]);
      await waitFor(() => got.length === 2, "the 2 early events");
      expect(got.map((d) => d.event)).toEqual(early);
      await consumer.close();
    });

    test("a slot removed with setSlots delivers nothing more; its unacked events stay for the next owner", async () => {
      await using h = await makeHarness();
      const worker = await h.client();
      const master = await h.client();
      const got: DeliveredEvent[] = [];
      const consumer = master.consumeEvents("master-shrinking", (events) => got.push(...events));
      consumer.setSlots([1, 2]);
      const first = [taskEvent(1), taskEvent(2)];
      for (const e of first) await worker.publishEvent(e.slot, e);
      await waitFor(() => got.length === 2, "one event on each slot");
      consumer.setSlots([2]);
      const dropped = taskEvent(1);
      const kept = taskEvent(2);
      await worker.publishEvent(1, dropped);
      await worker.publishEvent(2, kept);
      await waitFor(() => got.some((d) => d.event.taskInstanceId === kept.taskInstanceId), "the slot 2 event after the change");
      await turn();
      expect(got.map((d) => d.event.taskInstanceId)).not.toContain(dropped.taskInstanceId);
      await consumer.close();

      const nextOwner: DeliveredEvent[] = [];
      const next = worker.consumeEvents("master-next", (events) => nextOwner.push(...events));
      next.setSlots([1]);
      await waitFor(() => nextOwner.length === 2, "slot 1's two unacked events at the next owner");
      expect(nextOwner.map((d) => d.event)).toEqual([first[0]!, dropped]);
      await next.close();
    });

    test("a throwing event handler is logged and does not stop later deliveries", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      const got: DeliveredEvent[] = [];
      let calls = 0;
      const consumer = bus.consumeEvents("master-flaky", (events) => {
        if (++calls === 1) throw new Error("handler bug");
        got.push(...events);
      });
      consumer.setSlots([4]);
      await bus.publishEvent(4, taskEvent(4));
      await waitFor(() => calls === 1, "first batch");
      const later = taskEvent(4);
      await bus.publishEvent(4, later);
      await waitFor(() => got.length === 1, "second batch");
      expect(got[0]!.event).toEqual(later);
      await consumer.close();
    });

    // ── kills, wakes ───────────────────────────────────────────────────────────────────

    test("kills and wakes reach every current subscriber, and stop after unsubscribe", async () => {
      await using h = await makeHarness();
      const master = await h.client();
      const worker1 = await h.client();
      const worker2 = await h.client();
      const kills1: KillMessage[] = [];
      const kills2: KillMessage[] = [];
      const wakes: WakeMessage[] = [];
      const stop1 = await worker1.subscribeKills((m) => kills1.push(m));
      await worker2.subscribeKills((m) => kills2.push(m));
      await master.subscribeWakes((m) => wakes.push(m));
      const kill: KillMessage = { taskInstanceId: 42, attempt: 2, token: "tok-42", reason: "stopped by the user" };
      await master.publishKill(kill);
      await worker1.publishWake({ instanceId: 17 });
      await worker2.publishWake({ commands: true });
      await worker1.publishWake({ instanceIds: [18, 19, 20] });
      await waitFor(() => kills1.length === 1 && kills2.length === 1 && wakes.length === 3, "1 kill on each worker, 3 wakes");
      expect(kills1).toEqual([kill]);
      expect(kills2).toEqual([kill]);
      expect(wakes).toEqual([{ instanceId: 17 }, { commands: true }, { instanceIds: [18, 19, 20] }]);
      stop1();
      const second: KillMessage = { ...kill, attempt: 3 };
      await master.publishKill(second);
      await waitFor(() => kills2.length === 2, "second kill on worker 2");
      await turn();
      expect(kills1).toEqual([kill]);
      for (const bus of [master, worker1, worker2]) expect(bus.dropped()).toEqual({ unsigned: 0, forged: 0, malformed: 0 });
    });

    test("bad arguments of claims, events, kills and wakes are refused naming the field", async () => {
      await using h = await makeHarness();
      const bus = await h.client();
      await expectValidation(bus.publishEvent(4096, taskEvent(1)), "slot");
      await expectValidation(bus.publishEvent(-1, taskEvent(1)), "slot");
      await expectValidation(bus.claim(["default"], 10_001), "max");
      await expectValidation(bus.claim("default" as unknown as string[], 1), "groups");
      // A wake names one run, up to 500 runs, or the commands; nothing else.
      await expectValidation(bus.publishWake({ instanceIds: [] }), "instanceIds");
      await expectValidation(bus.publishWake({ instanceIds: Array.from({ length: 501 }, (_, i) => i + 1) }), "instanceIds");
      await expectValidation(bus.publishWake({ instanceIds: [1, -2] }), "instanceIds.1");
    });
  });
}
