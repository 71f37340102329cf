// How a worker's task events reach the masters (docs/architecture.md §3.1, §3.10): each goes to the
// event stream of its slot, where the master owning the slot records it. One that cannot be
// published (Redis away or restarting) is resent, in order with those behind it, until it is: a lost
// "done" would leave its attempt RUNNING with nobody running it, a lost "running" would let the
// master offer the attempt again. On Redis the latest event of each recent attempt is also kept
// (bus/recent-events.ts) and published again when Redis lost its contents, or when the attempt is
// offered to this worker once more.

import type { Bus } from "../bus/bus.ts";
import { publishAgain, RecentEvents } from "../bus/recent-events.ts";
import { PorpoiseError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { TaskEvent } from "../core/messages.ts";

/** Resending an unpublished event: 100 ms doubling to 1 s while the bus is away. */
const RESEND_FIRST_MS = 100;
const RESEND_MAX_MS = 1000;

export const attemptKey = (id: number, attempt: number, token: string) => `${id}:${attempt}:${token}`;

export class EventReporter {
  /** Events whose publication failed, resent in order. */
  private unsent: TaskEvent[] = [];
  private resending: Promise<void> | null = null;
  /** The bus closed with events unsent (they were given up). */
  private closedUnsent = false;
  /** Latest event per recent attempt, when republishing is on. */
  private readonly recent: RecentEvents | null;

  /** `keepRecent`: keep the latest event of each recent attempt, to publish it again (Redis). */
  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
    keepRecent: boolean,
  ) {
    this.recent = keepRecent ? new RecentEvents() : null;
  }

  report(event: TaskEvent): void {
    this.recent?.record(attemptKey(event.taskInstanceId, event.attempt, event.token), event);
    this.publish(event);
  }

  /** A delivery of attempt `key` came again: its latest event goes once more; which kind, if any. */
  republishLatest(key: string): TaskEvent["kind"] | null {
    const latest = this.recent?.latest(key);
    if (!latest) return null;
    this.publish(latest);
    return latest.kind;
  }

  /**
   * Redis lost its contents: the latest event of every recent attempt goes again. Resolves once
   * every one of them is in its slot's stream (those that failed are resent first), so that the
   * node can acknowledge the reset (cache/redis-resets.ts); rejects if the bus closed meanwhile.
   */
  async republishRecent(): Promise<void> {
    const events = this.recent?.all() ?? [];
    if (events.length === 0) return;
    this.log.warn(`worker: publishing the latest events of its ${events.length} recent task attempts again (Redis lost those no master had read yet; masters refuse the ones they recorded)`);
    const failed = await publishAgain(this.bus, events);
    if (failed.length === 0) return;
    this.unsent.push(...failed);
    this.resend();
    while (this.resending) await this.resending;
    if (failed.some((event) => this.unsent.includes(event)) || this.closedUnsent) throw new Error(`worker: ${failed.length} task events could not be published again: the bus closed`);
  }

  private publish(event: TaskEvent): void {
    if (this.unsent.length > 0) {
      this.unsent.push(event);
      return;
    }
    this.bus.publishEvent(event.slot, event).catch((err) => {
      this.log.warn(`worker: could not report task instance ${event.taskInstanceId} (${event.kind}); resending it until the bus answers`, { taskInstanceId: event.taskInstanceId, workflowInstanceId: event.workflowInstanceId, err });
      this.unsent.push(event);
      this.resend();
    });
  }

  private resend(): void {
    if (this.resending) return;
    this.resending = (async () => {
      let waitMs = RESEND_FIRST_MS;
      while (this.unsent.length > 0) {
        const event = this.unsent[0]!;
        try {
          await this.bus.publishEvent(event.slot, event);
          this.unsent.shift();
          waitMs = RESEND_FIRST_MS;
        } catch (err) {
          if (err instanceof PorpoiseError && err.code === "BUS_CLOSED") {
            this.log.error(`worker: the bus closed with ${this.unsent.length} task events unsent; their attempts are recovered by the master's sweeps`);
            this.unsent = [];
            this.closedUnsent = true;
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, waitMs));
          waitMs = Math.min(waitMs * 2, RESEND_MAX_MS);
        }
      }
    })().finally(() => (this.resending = null));
  }
}
