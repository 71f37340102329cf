// The groups a cluster master counts as served (src/modes/served-groups.ts), read from a real node
// registry in the Store. A worker that registered before an attempt was queued must be seen by
// fresh(), even when the last read started only a moment ago: a read shared from before the
// registration made edge-cluster.test.ts note "no worker serves" for a group that had a worker.

import { describe, expect, test } from "bun:test";
import { StoreNodeRegistry } from "../../src/coordinator/store-registry.ts";
import { createLogger } from "../../src/core/log.ts";
import { servedGroupsFromRegistry } from "../../src/modes/served-groups.ts";
import { dialects, freshStore } from "../helpers/stores.ts";
import { waitFor } from "../helpers/wait.ts";

const log = createLogger({ level: "error", format: "text" });

describe.each(dialects)("served groups on %s", (dialect) => {
  test("fresh() sees a worker registered just after the last read started; callers of one turn share one read", async () => {
    await using store = await freshStore(dialect);
    const master = new StoreNodeRegistry({ cluster: store.cluster, nodeId: "m1", role: "master", version: "test", heartbeatMs: null });
    await master.start();
    let reads = 0;
    const counting = { nodes: () => (reads++, master.nodes()) } as unknown as StoreNodeRegistry;
    const served = servedGroupsFromRegistry(counting, 10_000, log);
    try {
      await waitFor("the first read", async () => served.get() !== null, 5_000);
      expect(served.get()).toEqual([]);
      // A worker registers right after that read; the periodic one is 5 s away.
      const worker = new StoreNodeRegistry({ cluster: store.cluster, nodeId: "w1", role: "worker", version: "test", groups: ["edge", "default"] });
      await worker.start();
      const before = reads;
      const [a, b, c] = await Promise.all([served.fresh(), served.fresh(), served.fresh()]);
      expect([a, b, c]).toEqual([["default", "edge"], ["default", "edge"], ["default", "edge"]]);
      expect(reads - before).toBe(1);
      expect(served.get()).toEqual(["default", "edge"]);
      await worker.stop();
    } finally {
      served.stop();
      await master.stop();
    }
  });
});
