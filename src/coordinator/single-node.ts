// Coordinator for `porpoise all`: the only node, so it holds every slot at
// epoch 1 and its leases never expire. There is nobody to fence against; the
// epoch is still real so the engine writes it exactly as it will in a cluster.
// Two `all` processes on one data directory are not supported (the runtime
// refuses that); nothing here could detect it.

import { z } from "zod";
import { parseOrThrow } from "../core/zod-details.ts";
import { silentLogger, type Logger } from "../core/log.ts";
import {
  type Coordinator,
  type SlotLease,
  type SlotListener,
  DEFAULT_SLOT_COUNT,
  nodeIdSchema,
  slotCountSchema,
  slotOfInstance,
} from "./coordinator.ts";

const optionsSchema = z.strictObject({
  nodeId: nodeIdSchema.default("local"),
  slotCount: slotCountSchema.default(DEFAULT_SLOT_COUNT),
});

export class SingleNodeCoordinator implements Coordinator {
  readonly nodeId: string;
  readonly slotCount: number;
  private readonly log: Logger;
  private readonly listeners = new Set<SlotListener>();
  private held: SlotLease[] = [];
  private slots: readonly number[] = [];

  constructor(opts: { nodeId?: string; slotCount?: number; log?: Logger } = {}) {
    const parsed = parseOrThrow(optionsSchema, { nodeId: opts.nodeId, slotCount: opts.slotCount }, "coordinator options");
    this.nodeId = parsed.nodeId;
    this.slotCount = parsed.slotCount;
    this.log = opts.log ?? silentLogger;
  }

  slotOf(instanceId: number): number {
    return slotOfInstance(instanceId, this.slotCount);
  }

  holdsNow(slot: number, epoch: number): boolean {
    return this.lease(slot)?.epoch === epoch;
  }

  ownedSlots(): readonly number[] {
    return this.slots;
  }

  lease(slot: number): SlotLease | null {
    if (!(Number.isInteger(slot) && slot >= 0 && slot < this.slotCount)) {
      parseOrThrow(z.strictObject({ slot: z.number().int().min(0).max(this.slotCount - 1) }), { slot }, "lease lookup");
    }
    return this.held[slot] ?? null;
  }

  onChange(listener: SlotListener): () => void {
    const entry: SlotListener = (change) => listener(change);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  start(): Promise<void> {
    if (this.held.length > 0) return Promise.resolve();
    this.held = Array.from({ length: this.slotCount }, (_, slot) =>
      Object.freeze({ slot, owner: this.nodeId, epoch: 1, expiresAt: Infinity }),
    );
    this.slots = Object.freeze(this.held.map((l) => l.slot));
    this.emit({ acquired: this.held, lost: [] });
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (this.held.length === 0) return Promise.resolve();
    const lost = this.held;
    this.held = [];
    this.slots = [];
    this.emit({ acquired: [], lost });
    return Promise.resolve();
  }

  private emit(change: { acquired: readonly SlotLease[]; lost: readonly SlotLease[] }): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (err) {
        this.log.error("slot change listener failed; continuing", { err });
      }
    }
  }
}
