// A Coordinator (the port, src/coordinator/coordinator.ts) whose slots a test takes away and gives
// back at will, each time at a new epoch, as the Postgres Coordinator does when a loaded master
// misses its renewal deadline and takes its own slots again. Not a mock of a database: the slot
// table is this object's memory, which is what the in-process twin is too (single-node.ts).

import { type Coordinator, type SlotChange, type SlotLease, type SlotListener, slotOfInstance } from "../../src/coordinator/coordinator.ts";

export class FlappingCoordinator implements Coordinator {
  readonly nodeId = "flapper";
  private readonly held = new Map<number, SlotLease>();
  private readonly epochs = new Map<number, number>();
  private readonly listeners = new Set<SlotListener>();

  constructor(readonly slotCount = 8) {}

  slotOf(instanceId: number): number {
    return slotOfInstance(instanceId, this.slotCount);
  }

  ownedSlots(): readonly number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  lease(slot: number): SlotLease | null {
    return this.held.get(slot) ?? null;
  }

  onChange(listener: SlotListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    this.acquire(Array.from({ length: this.slotCount }, (_, i) => i));
  }

  async stop(): Promise<void> {
    this.lose(this.ownedSlots());
  }

  /** Takes `slots` (not held) at the next epoch of each. */
  acquire(slots: readonly number[]): void {
    const acquired: SlotLease[] = [];
    for (const slot of slots) {
      if (this.held.has(slot)) continue;
      const epoch = (this.epochs.get(slot) ?? 0) + 1;
      this.epochs.set(slot, epoch);
      const lease = Object.freeze({ slot, owner: this.nodeId, epoch, expiresAt: Infinity });
      this.held.set(slot, lease);
      acquired.push(lease);
    }
    this.emit({ acquired, lost: [] });
  }

  /** Reports `slots` lost (another node has them now). */
  lose(slots: readonly number[]): void {
    const lost: SlotLease[] = [];
    for (const slot of slots) {
      const lease = this.held.get(slot);
      if (!lease) continue;
      this.held.delete(slot);
      lost.push(lease);
    }
    this.emit({ acquired: [], lost });
  }

  private emit(change: SlotChange): void {
    for (const l of [...this.listeners]) void l(change);
  }
}
