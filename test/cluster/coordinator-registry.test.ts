// The node registry (src/coordinator/store-registry.ts over store.cluster, src/store/cluster-nodes.ts)
// on both dialects: a row per node with heartbeats on the database clock, live nodes by role and
// age, deregistration on stop(), re-registration after a sweep, and bad options naming the field.

import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../src/core/errors.ts";
import { StoreNodeRegistry } from "../../src/coordinator/store-registry.ts";
import { dialects, freshStore, rawQuery } from "../helpers/stores.ts";
import { waitFor } from "../integration/contracts/wait.ts";

/** Moves a node's heartbeat `ms` into the past, behind the store's back. */
async function ageHeartbeat(url: string, dialect: string, id: string, ms: number): Promise<void> {
  if (dialect === "sqlite") await rawQuery(url, "UPDATE cluster_nodes SET heartbeat_at = heartbeat_at - ? WHERE id = ?", [ms, id]);
  else await rawQuery(url, "UPDATE cluster_nodes SET heartbeat_at = heartbeat_at - make_interval(secs => $1::float8 / 1000) WHERE id = $2", [ms, id]);
}

describe.each(dialects)("node registry on %s", (dialect) => {
  test("registers, heartbeats, lists live nodes by role and age, and deregisters on stop", async () => {
    await using store = await freshStore(dialect);
    let slots = [3, 4];
    const master = new StoreNodeRegistry({ cluster: store.cluster, nodeId: "m1", role: "master", version: "9.9.9", host: "h1", slots: () => slots, heartbeatMs: 20 });
    const worker = new StoreNodeRegistry({ cluster: store.cluster, nodeId: "w1", role: "worker", version: "9.9.9", groups: ["default"], heartbeatMs: 20 });
    await master.start();
    await master.start(); // idempotent
    await worker.start();

    const nodes = await master.nodes();
    expect(nodes.map((n) => [n.id, n.role])).toEqual([
      ["m1", "master"],
      ["w1", "worker"],
    ]);
    expect(nodes[0]).toMatchObject({ host: "h1", version: "9.9.9", groups: [], slots: [3, 4] });
    expect(nodes[1]).toMatchObject({ groups: ["default"], slots: [] });
    expect(nodes[1]!.startedAt).toBeInstanceOf(Date);
    expect(Math.abs(nodes[1]!.startedAt.getTime() - Date.now())).toBeLessThan(5_000);

    // The heartbeat carries the slots held now.
    slots = [5];
    await waitFor(async () => (await master.nodes())[0]!.slots[0] === 5, "slots refreshed by a heartbeat");
    expect(await worker.liveNodes("worker", 10_000)).toEqual(new Set(["w1"]));
    expect(await worker.liveNodes("master", 10_000)).toEqual(new Set(["m1"]));
    expect(await worker.liveNodes("api", 10_000)).toEqual(new Set());

    // A node whose heartbeat is old is listed, but not live.
    await worker.stop(); // no more heartbeats from w1 …
    const idle = new StoreNodeRegistry({ cluster: store.cluster, nodeId: "w2", role: "worker", version: "1", heartbeatMs: null });
    await idle.start();
    await ageHeartbeat(store.url, dialect, "w2", 60_000);
    const aged = (await master.nodes()).find((n) => n.id === "w2")!;
    expect(aged.heartbeatAgeMs).toBeGreaterThanOrEqual(60_000);
    expect(await master.liveNodes("worker", 30_000)).toEqual(new Set());
    expect(await master.liveNodes("worker", 120_000)).toEqual(new Set(["w2"]));

    // stop() deletes the row at once.
    expect((await master.nodes()).map((n) => n.id)).toEqual(["m1", "w2"]);
    await master.stop();
    await master.stop();
    expect((await idle.nodes()).map((n) => n.id)).toEqual(["w2"]);
    await idle.stop();
  });

  test("a node swept while alive registers again at its next heartbeat; silent nodes are swept", async () => {
    await using store = await freshStore(dialect);
    const node = new StoreNodeRegistry({ cluster: store.cluster, nodeId: "api-1", role: "api", version: "1", heartbeatMs: 20 });
    await node.start();
    expect(await store.cluster.remove("api-1")).toBe(true);
    await waitFor(async () => (await node.nodes()).some((n) => n.id === "api-1"), "registered again");

    const ghost = new StoreNodeRegistry({ cluster: store.cluster, nodeId: "ghost", role: "worker", version: "1", heartbeatMs: null });
    await ghost.start();
    await ageHeartbeat(store.url, dialect, "ghost", 2 * 3_600_000);
    expect(await store.cluster.sweep(3_600_000)).toBe(1);
    expect((await node.nodes()).map((n) => n.id)).toEqual(["api-1"]);
    await node.stop();
  });

  test("bad options and queries name the field", async () => {
    await using store = await freshStore(dialect);
    const cases: [Record<string, unknown>, string][] = [
      [{ role: "boss" }, "role"],
      [{ nodeId: "" }, "nodeId"],
      [{ heartbeatMs: 0 }, "heartbeatMs"],
      [{ groups: [""] }, "groups"],
    ];
    for (const [override, path] of cases) {
      let err: unknown;
      try {
        new StoreNodeRegistry({ cluster: store.cluster, nodeId: "n", role: "worker", version: "1", ...override } as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).message).toContain(path);
    }
    const ok = new StoreNodeRegistry({ cluster: store.cluster, nodeId: "n", role: "worker", version: "1" });
    await expect(ok.liveNodes("boss" as never, 10)).rejects.toThrow("role");
    await expect(ok.liveNodes("worker", -1)).rejects.toThrow("maxAgeMs");
    expect(await store.cluster.slotLeases()).toEqual([]);
  });
});
