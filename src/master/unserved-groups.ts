// Attempts queued for a worker group no worker serves (issue 9 item 15). Such an attempt waits in
// DISPATCH until a worker of that group appears — it is not refused, it still runs then — but it
// no longer waits silently: the driver notes it on the attempt and the instance, and this keeps the
// count per group that metrics can expose (`counts()`).
//
// Which groups are served comes from the process's composition: in `porpoise all` the groups of
// its worker; in a cluster master, the node registry (modes/served-groups.ts), read again before
// a note (`confirm`): the list it keeps may predate a worker that just registered. null = not
// known here: nothing is noted.

export class UnservedGroups {
  private readonly waiting = new Map<number, string>();

  constructor(
    private readonly served: () => readonly string[] | null,
    private readonly confirm?: () => Promise<readonly string[] | null>,
  ) {}

  /** True when the groups known now serve `group`, or nothing is known (the common case: no note, no wait). */
  servedNow(group: string): boolean {
    const served = this.served();
    return served === null || served.includes(group);
  }

  /** The note for an attempt queued for `group` after a fresh look, or null when a worker serves it (or nobody knows). */
  async noteFor(group: string): Promise<string | null> {
    const served = this.confirm ? await this.confirm() : this.served();
    if (served === null || served.includes(group)) return null;
    return `waiting: no worker serves worker group "${group}" (served: ${served.length > 0 ? served.map((g) => `"${g}"`).join(", ") : "none"}); it runs once a worker of that group is up`;
  }

  add(taskInstanceId: number, group: string): void {
    this.waiting.set(taskInstanceId, group);
  }

  /** The attempt left the queue (started, ended or was killed). */
  settle(taskInstanceId: number): void {
    this.waiting.delete(taskInstanceId);
  }

  /** Attempts waiting per unserved group. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const group of this.waiting.values()) out[group] = (out[group] ?? 0) + 1;
    return out;
  }
}
