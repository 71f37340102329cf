// The in-process bus's open claims (memory-bus.ts), keyed by task instance id: a claim is matched
// by id, attempt and token, as the Bus contract says, without building a string key per claim and
// per ack (claimKey was 1.2% of `all`'s CPU in the throughput bench, and each key an allocation).
// Two claims of one id with different attempts or tokens (a stale copy next to the live one, a
// forged copy in the contract tests) are rare: the second goes into a small overflow map.

export interface ClaimRef {
  taskInstanceId: number;
  attempt: number;
  token: string;
}

const same = (a: ClaimRef, b: ClaimRef) => a.attempt === b.attempt && a.token === b.token;
const overflowKey = (t: ClaimRef) => `${t.taskInstanceId}:${t.attempt}:${t.token}`;

export class ClaimTable<C extends { task: ClaimRef }> {
  private readonly byId = new Map<number, C>();
  private readonly overflow = new Map<string, C>();

  get size(): number {
    return this.byId.size + this.overflow.size;
  }

  /** Records `claim`, replacing a claim of the same id, attempt and token. */
  set(claim: C): void {
    const t = claim.task;
    const held = this.byId.get(t.taskInstanceId);
    if (held === undefined || same(held.task, t)) this.byId.set(t.taskInstanceId, claim);
    else this.overflow.set(overflowKey(t), claim);
  }

  /** Removes the claim of `t` (same id, attempt and token); false when there is none. */
  delete(t: ClaimRef): boolean {
    const held = this.byId.get(t.taskInstanceId);
    if (held !== undefined && same(held.task, t)) {
      this.byId.delete(t.taskInstanceId);
      return true;
    }
    return this.overflow.size > 0 && this.overflow.delete(overflowKey(t));
  }

  /** Every open claim (deleting the one just yielded is safe). */
  *values(): IterableIterator<C> {
    yield* this.byId.values();
    yield* this.overflow.values();
  }

  clear(): void {
    this.byId.clear();
    this.overflow.clear();
  }
}
