import { describe, expect, test } from "bun:test";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import { createLogger } from "../../src/core/log.ts";
import { busContract, readyTask } from "./contracts/bus-contract.ts";

busContract("memory", async (opts = {}) => {
  const bus = new MemoryBus({ claimLeaseMs: opts.claimLeaseMs });
  return {
    client: async () => bus,
    [Symbol.asyncDispose]: () => bus.close(),
  };
});

describe("MemoryBus specifics", () => {
  test("a waiting claim is resolved by enqueue within the same turn: no timer, no polling", async () => {
    await using bus = disposable(new MemoryBus());
    let resolvedBeforeNextTurn = false;
    const claimed = bus.claim(["default"], 1).then((tasks) => {
      resolvedBeforeNextTurn = !macrotaskRan;
      return tasks;
    });
    let macrotaskRan = false;
    await bus.enqueue("default", readyTask());
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        macrotaskRan = true;
        resolve();
      }),
    );
    expect(await claimed).toHaveLength(1);
    expect(resolvedBeforeNextTurn).toBe(true);
  });

  test("a burst of enqueues reaches a waiting worker as one batch, best first", async () => {
    await using bus = disposable(new MemoryBus());
    const claimed = bus.claim(["default"], 10);
    const sent = [readyTask({ priority: 4 }), readyTask({ priority: 0 }), readyTask({ priority: 2 })];
    await Promise.all(sent.map((t) => bus.enqueue("default", t)));
    expect((await claimed).map((t) => t.priority)).toEqual([0, 2, 4]);
  });

  test("waiters are served oldest first, each with distinct tasks", async () => {
    await using bus = disposable(new MemoryBus());
    const first = bus.claim(["default"], 1);
    const second = bus.claim(["default", "gpu"], 1);
    const third = bus.claim(["gpu"], 1);
    const [t1, t2, t3] = [readyTask(), readyTask(), readyTask({ workerGroup: "gpu" })];
    await bus.enqueue("default", t1);
    await bus.enqueue("default", t2);
    await bus.enqueue("gpu", t3);
    expect(await first).toEqual([t1]);
    expect(await second).toEqual([t2]);
    expect(await third).toEqual([t3]);
  });

  test("keeps its own copy of an enqueued task", async () => {
    await using bus = disposable(new MemoryBus());
    const task = readyTask();
    const copy = { ...task };
    await bus.enqueue("default", task);
    task.attempt = 99;
    expect(await bus.claim(["default"], 1)).toEqual([copy]);
  });

  test("logs a throwing subscriber with its channel", async () => {
    const lines: string[] = [];
    const log = createLogger({ level: "error", format: "json", write: (l) => lines.push(l) });
    await using bus = disposable(new MemoryBus({ log }));
    await bus.subscribe("events", () => {
      throw new Error("boom");
    });
    await bus.publish("events", "x");
    await Promise.resolve();
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "error", channel: "events" });
    expect(lines[0]).toContain("boom");
  });

  test("aborted waiters leave no bookkeeping behind", async () => {
    await using bus = disposable(new MemoryBus());
    for (let i = 0; i < 1_000; i++) {
      const ac = new AbortController();
      const p = bus.claim(["default", "gpu"], 1, ac.signal);
      ac.abort();
      expect(await p).toEqual([]);
    }
    expect((bus as unknown as { waiters: Map<string, unknown> }).waiters.size).toBe(0);
  });
});

function disposable(bus: MemoryBus): MemoryBus & AsyncDisposable {
  return Object.assign(bus, { [Symbol.asyncDispose]: () => bus.close() });
}
