// Workers' beacons (src/cache/worker-beacons.ts) on the in-process Cache twin, real clock, a 100 ms
// lease: a worker alive on the Cache is never taken for dead; one whose beacon expired is, once the
// Cache's boot marker has been seen for 1.5 leases; a flush (marker and beacons gone) or a Cache
// that does not answer makes nobody dead. A dispatch's first start (dispatch-records.ts claimStart)
// holds copies back while the worker that started it lives.

import { expect, test } from "bun:test";
import { MemoryCache } from "../../src/cache/memory-cache.ts";
import { DispatchRecords } from "../../src/cache/dispatch-records.ts";
import { beaconPresent, WorkerBeacon, WorkerBeacons } from "../../src/cache/worker-beacons.ts";
import { createLogger } from "../../src/core/log.ts";
import { waitFor } from "../helpers/wait.ts";

const LEASE_MS = 100;
const log = createLogger({ level: "error", format: "text" });
const sorted = async (p: Promise<Set<string>>) => [...(await p)].sort();

test("a beating worker is alive, one that never beat or stopped is dead once the boot marker is trusted", async () => {
  const cache = new MemoryCache();
  const w1 = new WorkerBeacon(cache, "w1", LEASE_MS, log);
  w1.start();
  const beacons = new WorkerBeacons(cache, LEASE_MS);
  // A marker seen for the first time proves nothing yet: everyone asked about is alive.
  expect(await sorted(beacons.alive(["w1", "w2"]))).toEqual(["w1", "w2"]);
  await waitFor("w2 dead, w1 alive", async () => (await sorted(beacons.alive(["w1", "w2"]))).join() === "w1", 5000);
  await w1.stop();
  await waitFor("w1 dead after it stopped", async () => (await beacons.alive(["w1"])).size === 0, 5000);
  await cache.close();
});

test("after a flush nobody is dead until the new boot marker has been seen for 1.5 leases", async () => {
  const cache = new MemoryCache();
  const beacons = new WorkerBeacons(cache, LEASE_MS);
  await waitFor("w2 dead", async () => (await beacons.alive(["w2"])).size === 0, 5000);
  // FLUSHALL or a restart without persistence: the marker goes with every beacon.
  await cache.delete("beacons:boot");
  expect(await sorted(beacons.alive(["w2"]))).toEqual(["w2"]);
  await waitFor("w2 dead again under the new marker", async () => (await beacons.alive(["w2"])).size === 0, 5000);
  await cache.close();
});

test("a Cache that does not answer makes nobody dead, and the worker's contact stands still", async () => {
  const cache = new MemoryCache();
  const w1 = new WorkerBeacon(cache, "w1", LEASE_MS, log);
  w1.start();
  const beacons = new WorkerBeacons(cache, LEASE_MS);
  await waitFor("w2 dead", async () => (await beacons.alive(["w2"])).size === 0, 5000);
  const contact = w1.lastContactMs;
  await waitFor("a later beacon", async () => w1.lastContactMs > contact, 5000);
  await cache.close();
  expect(await sorted(beacons.alive(["w1", "w2"]))).toEqual(["w1", "w2"]);
  const last = w1.lastContactMs;
  await Bun.sleep(LEASE_MS);
  expect(w1.lastContactMs).toBe(last);
  await w1.stop();
});

test("a dispatch started by a live worker is not started again; one started by a worker that is gone is", async () => {
  const cache = new MemoryCache();
  const records = new DispatchRecords(cache, log);
  const w1 = new WorkerBeacon(cache, "w1", LEASE_MS, log);
  const w2 = new WorkerBeacon(cache, "w2", LEASE_MS, log);
  w1.start();
  w2.start();
  await waitFor("the beacons", async () => (await beaconPresent(cache, "w1")) && (await beaconPresent(cache, "w2")), 5000);
  const rt = { taskInstanceId: 7, attempt: 1, token: "t" };
  expect(await records.claimStart(rt, "w1")).toBe("started");
  // A copy offered again (a reload, a takeover) while w1 lives and runs it: not started by w2.
  expect(await records.claimStart(rt, "w2")).toBe("elsewhere");
  expect(await records.claimStart(rt, "w1")).toBe("elsewhere");
  // w1 is gone (its beacon expired): its copy died with it, so w2 starts the attempt, once.
  await w1.stop();
  expect(await records.claimStart(rt, "w2")).toBe("started");
  expect(await records.claimStart(rt, "w3")).toBe("elsewhere");
  await w2.stop();
  await cache.close();
});
