// A worker on Redis publishes its latest task events again when Redis lost them (src/bus/
// recent-events.ts, src/cache/redis-resets.ts; docs/architecture.md §3.1). The real Worker runs a
// real attempt of a row the engine dispatched (to a group the engine's own worker does not serve)
// and reports on a throwaway redis-server that no master reads, so its "done" waits in the slot's
// stream as it would behind a lagging master. Then:
//   - FLUSHALL: the stream is gone; once the worker's watch sees the new boot marker, the event is
//     in the stream again (before the fix nothing ever sent it again: outage-redis froze attempts);
//   - the same ready task offered again (a master whose dispatch record Redis lost): the worker
//     does not run it twice, and publishes its "done" once more;
//   - the worker put its start record and its beacon back before it acknowledged the reset, so a
//     copy offered to another worker is not started there either (cache/reset-acks.ts).

import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import type { DeliveredEvent, ReadyTask } from "../../src/bus/bus.ts";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import { RedisCache } from "../../src/cache/redis-cache.ts";
import { DispatchRecords } from "../../src/cache/dispatch-records.ts";
import { readBootMarker, RedisResetWatch, resetAckKey } from "../../src/cache/redis-resets.ts";
import { WorkerBeacon } from "../../src/cache/worker-beacons.ts";
import { createLogger } from "../../src/core/log.ts";
import { Worker } from "../../src/worker/worker.ts";
import { harness } from "../integration/engine/harness.ts";
import { startRedisServer } from "./cluster-harness.ts";

const SECRET = "republish-secret-0123456789";
const log = createLogger({ level: "error", format: "text" });

test("a worker publishes its latest event again after FLUSHALL, and when its attempt is offered again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "porpoise-republish-"));
  const redis = await startRedisServer(dir);
  await using h = await harness("sqlite", { workerGroups: ["default"] });
  const bus = new RedisBus({ url: redis.url, prefix: "rp:", secret: SECRET, log });
  const cache = new RedisCache({ url: redis.url, prefix: "rp:cache:", secret: SECRET, log });
  // A long interval: the test calls check() itself, so the timer never races it.
  const resets = new RedisResetWatch(cache, 60_000, log, "w1");
  const admin = new Redis(redis.url);
  const workDir = mkdtempSync(join(tmpdir(), "porpoise-republish-work-"));
  const records = new DispatchRecords(cache, log, cache);
  const beacon = new WorkerBeacon(cache, "w1", 60_000, log);
  resets.onReset(() => beacon.beatNow());
  const worker = new Worker({ store: h.store, bus, log, dataDir: workDir, slots: 2, groups: ["edge"], host: "w1", records, republish: { resets } });
  // Another worker's view of the same Redis.
  const other = new DispatchRecords(cache, log, cache);
  try {
    beacon.start();
    resets.start();
    await h.save({ name: "w", tasks: [{ name: "t", type: "shell", workerGroup: "edge", script: `echo ran >> '${join(dir, "runs")}'` }] });
    const id = await h.run("w");
    const row = await h.waitFor("t dispatched to the group nobody in the engine serves", async () => {
      const t = await h.latest(id, "t");
      return t?.state === "DISPATCH" ? t : null;
    });
    const ready: ReadyTask = { taskInstanceId: row.id, workflowInstanceId: id, slot: row.slot, epoch: row.epoch, attempt: row.attempt, token: row.dispatchToken!, instancePriority: 2, priority: 2, workerGroup: "edge", enqueuedAt: Date.now() };
    const stream = `rp:ev:${row.slot}`;
    const kinds = async () => ((await admin.xrange(stream, "-", "+")) as [string, string[]][]).map(([, f]) => (JSON.parse((JSON.parse(f[1]!) as { body: string }).body) as { kind: string }).kind);
    // The first check records the marker; only a later change is a reset.
    await resets.check();
    await worker.start();
    await bus.enqueue("edge", ready);
    await h.waitFor("running and done in the slot's stream", async () => (await kinds()).join() === "running,done");
    expect(readFileSync(join(dir, "runs"), "utf8")).toBe("ran\n");

    const startKey = `rp:cache:started:${row.id}:${row.attempt}:${row.dispatchToken}`;
    expect(await admin.exists(startKey)).toBe(1);
    expect(await admin.flushall()).toBe("OK");
    expect(await admin.exists(stream)).toBe(0);
    expect(await admin.exists(startKey)).toBe(0);
    await resets.check();
    // Only the attempt's latest event: "done" replaced "running".
    await h.waitFor("done published again", async () => (await kinds()).join() === "done");
    // Acknowledged only with the start record and the beacon back: a copy given to another worker is not started there.
    expect(await cache.get(resetAckKey("w1"))).toBe(await readBootMarker(cache));
    expect(await admin.exists(startKey)).toBe(1);
    expect(await other.claimStart(ready, "w2")).toBe("elsewhere");

    // A master offers the attempt again: it is not run twice, and its result goes once more.
    await admin.del(stream);
    await bus.enqueue("edge", ready);
    await h.waitFor("done published for the second offer", async () => (await kinds()).join() === "done");
    await h.waitFor("the duplicate dropped", async () => worker.dropped === 1);
    expect(readFileSync(join(dir, "runs"), "utf8")).toBe("ran\n");

    // And a master reading the stream gets exactly that result, with the dispatch's token.
    const got: DeliveredEvent[] = [];
    const reader = bus.consumeEvents("m2", (events) => got.push(...events));
    reader.setSlots([row.slot]);
    await h.waitFor("the master read it", async () => got.length === 1);
    await reader.close();
    expect(got[0]!.event).toMatchObject({ kind: "done", taskInstanceId: row.id, attempt: row.attempt, token: row.dispatchToken!, state: "SUCCESS" });
  } finally {
    await worker.stop(1000);
    await resets.stop();
    await beacon.stop();
    admin.disconnect();
    await bus.close();
    await cache.close();
    await redis.kill();
    rmSync(dir, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  }
}, 60_000);
