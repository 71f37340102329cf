// Messages the Redis Bus refused on receipt (docs/architecture.md §3.8): counted by reason,
// logged at debug, never handed to a caller.

import type { Logger } from "../core/log.ts";
import type { BusDropCounts } from "./bus.ts";
import type { DropReason } from "./signing.ts";

export class DropCounter {
  private readonly counts = { unsigned: 0, forged: 0, malformed: 0 };

  constructor(private readonly log: Logger) {}

  count(reason: DropReason, where: string, detail?: string): void {
    this.counts[reason]++;
    this.log.debug("redis bus dropped a message", { reason, where, ...(detail ? { detail } : {}) });
  }

  snapshot(): BusDropCounts {
    return { ...this.counts };
  }
}
