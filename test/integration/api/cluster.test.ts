// GET /api/v1/cluster (src/api/routes/cluster.ts): nodes from the registry and the slot leases,
// read from the Store, for any logged-in user; on Postgres with a real PostgresCoordinator.

import { describe, expect, test } from "bun:test";
import { PostgresCoordinator } from "../../../src/coordinator/postgres-coordinator.ts";
import { openLeaseClient } from "../../../src/coordinator/postgres-lease-client.ts";
import { StoreNodeRegistry } from "../../../src/coordinator/store-registry.ts";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError } from "./harness.ts";

describe.each(dialects)("API cluster view on %s", (dialect) => {
  test("any logged-in user sees the registered nodes; nobody else sees anything", async () => {
    await using h = await apiHarness(dialect);
    const viewer = await h.user("vera");
    expectError(await h.call("GET", "/api/v1/cluster", { token: null }), 401, "UNAUTHORIZED");

    const empty = await h.call("GET", "/api/v1/cluster", { token: viewer.token });
    expect(empty.status).toBe(200);
    expect(empty.json).toEqual({ readyQueues: null, nodes: [], edgeGateway: null, edgeWorkers: [], slots: { count: 0, held: 0, leases: [] } });

    const all = new StoreNodeRegistry({ cluster: h.store.cluster, nodeId: "node-all", role: "all", version: "1.2.3", host: "box-1", groups: ["default", "gpu"], slots: () => [0, 1] });
    const worker = new StoreNodeRegistry({ cluster: h.store.cluster, nodeId: "node-w", role: "worker", version: "1.2.3", host: "box-2", groups: ["default"] });
    await all.start();
    await worker.start();
    const reply = await h.call("GET", "/api/v1/cluster", { token: viewer.token });
    expect(reply.status).toBe(200);
    expect(reply.json.nodes).toEqual([
      { id: "node-all", role: "all", host: "box-1", version: "1.2.3", groups: ["default", "gpu"], slots: [0, 1], startedAt: expect.any(String), heartbeatAgeMs: expect.any(Number) },
      { id: "node-w", role: "worker", host: "box-2", version: "1.2.3", groups: ["default"], slots: [], startedAt: expect.any(String), heartbeatAgeMs: expect.any(Number) },
    ]);
    for (const n of reply.json.nodes) {
      expect(n.heartbeatAgeMs).toBeGreaterThanOrEqual(0);
      expect(n.heartbeatAgeMs).toBeLessThan(5_000);
      expect(Math.abs(Date.parse(n.startedAt) - Date.now())).toBeLessThan(5_000);
    }
    await worker.stop();
    await all.stop();
    expect((await h.call("GET", "/api/v1/cluster", { token: viewer.token })).json.nodes).toEqual([]);
  });
});

describe.each(dialects)("API cluster view of the ready queues on %s", (dialect) => {
  test("a task for a worker group nobody serves shows in its queue's depth, marked unserved", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    expect((await h.call("GET", "/api/v1/cluster")).json.readyQueues).toEqual([{ workerGroup: "default", depth: 0, dispatched: 0, served: true }]);
    expect((await h.call("POST", "/api/v1/projects", { body: { name: "p" } })).status).toBe(201);
    const wf = { name: "w", tasks: [{ name: "g", type: "shell", script: "echo g", workerGroup: "gpu" }] };
    expect((await h.call("POST", "/api/v1/projects/p/workflows", { body: wf })).status).toBe(201);
    const run = await h.call("POST", "/api/v1/projects/p/workflows/w/run", { body: {} });
    expect(run.status).toBe(201);
    const queues = await h.waitFor("the gpu task is queued", async () => {
      const q = (await h.call("GET", "/api/v1/cluster")).json.readyQueues as { workerGroup: string; depth: number; dispatched: number; served: boolean }[];
      return q.find((g) => g.workerGroup === "gpu")?.depth === 1 ? q : null;
    });
    expect(queues).toEqual([
      { workerGroup: "default", depth: 0, dispatched: 0, served: true },
      { workerGroup: "gpu", depth: 1, dispatched: 1, served: false },
    ]);
    const viewer = await h.user("vera");
    expect((await h.call("GET", "/api/v1/cluster", { token: viewer.token })).json.readyQueues).toEqual(queues);
    expect((await h.call("POST", `/api/v1/workflow-instances/${run.json.id}/stop`, { body: {} })).status).toBeLessThan(300);
    await h.waitFor("the stopped run leaves nothing dispatched", async () => {
      const q = (await h.call("GET", "/api/v1/cluster")).json.readyQueues as { workerGroup: string; dispatched: number }[];
      return q.every((g) => g.dispatched === 0);
    });
  });
});

describe("API cluster view with a Postgres coordinator", () => {
  test("shows every slot's owner, epoch and time left, and the master's slots in its node row", async () => {
    await using h = await apiHarness("postgres");
    const registry = new StoreNodeRegistry({ cluster: h.store.cluster, nodeId: "m1", role: "master", version: "test", heartbeatMs: null });
    const sql = await openLeaseClient(h.store.url, { leaseMs: 2_000 });
    const coordinator = new PostgresCoordinator({ sql, nodeId: "m1", slotCount: 8, leaseMs: 2_000 });
    try {
      await registry.start();
      await coordinator.start();
      await h.waitFor("the coordinator's heartbeat wrote its slots", async () => {
        const nodes = await h.store.cluster.nodes();
        return nodes[0]?.slots.length === 8;
      });
      const reply = await h.call("GET", "/api/v1/cluster");
      expect(reply.status).toBe(200);
      expect(reply.json.nodes).toMatchObject([{ id: "m1", role: "master", slots: [0, 1, 2, 3, 4, 5, 6, 7] }]);
      expect(reply.json.slots.count).toBe(8);
      expect(reply.json.slots.held).toBe(8);
      for (const [slot, lease] of reply.json.slots.leases.entries()) {
        expect(lease).toMatchObject({ slot, owner: "m1", epoch: 1 });
        expect(lease.expiresInMs).toBeGreaterThan(0);
        expect(lease.expiresInMs).toBeLessThanOrEqual(2_000);
      }
      await coordinator.stop();
      const after = await h.call("GET", "/api/v1/cluster");
      expect(after.json.slots.held).toBe(0);
      expect(after.json.slots.leases.every((l: { owner: string | null }) => l.owner === null)).toBe(true);
    } finally {
      await coordinator.stop();
      await registry.stop();
      await sql.end({ timeout: 1 });
    }
  }, 30_000);
});
