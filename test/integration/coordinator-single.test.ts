import { describe, expect, test } from "bun:test";
import { SingleNodeCoordinator } from "../../src/coordinator/single-node.ts";
import { ValidationError } from "../../src/core/errors.ts";
import { coordinatorContract } from "./contracts/coordinator-contract.ts";

coordinatorContract("single node", async () => {
  const coordinator = new SingleNodeCoordinator({ nodeId: "test-node" });
  return { coordinator, [Symbol.asyncDispose]: () => coordinator.stop() };
});

coordinatorContract("single node, 7 slots", async () => {
  const coordinator = new SingleNodeCoordinator({ slotCount: 7 });
  return { coordinator, [Symbol.asyncDispose]: () => coordinator.stop() };
});

describe("SingleNodeCoordinator specifics", () => {
  test("defaults to 64 slots held at epoch 1 that never expire", async () => {
    const c = new SingleNodeCoordinator();
    expect(c.slotCount).toBe(64);
    expect(c.nodeId).toBe("local");
    expect(c.lease(5)).toBeNull();
    await c.start();
    expect(c.lease(5)).toEqual({ slot: 5, owner: "local", epoch: 1, expiresAt: Infinity });
    await c.stop();
    expect(c.lease(5)).toBeNull();
  });

  test("keeps epoch 1 across stop and start: nobody else can have held the slots", async () => {
    const c = new SingleNodeCoordinator();
    await c.start();
    await c.stop();
    await c.start();
    expect(c.lease(63)?.epoch).toBe(1);
    await c.stop();
  });

  test("refuses bad options naming the field", () => {
    for (const [opts, path] of [
      [{ slotCount: 0 }, "slotCount"],
      [{ slotCount: 5000 }, "slotCount"],
      [{ slotCount: 2.5 }, "slotCount"],
      [{ nodeId: "" }, "nodeId"],
    ] as const) {
      let err: unknown;
      try {
        new SingleNodeCoordinator(opts);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).details.map((d) => d.path)).toEqual([path]);
    }
  });
});
