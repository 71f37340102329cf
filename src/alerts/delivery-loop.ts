// The alert delivery loop (issue 11): runs beside the master (and in `porpoise all`), never in
// the engine's path. Every tick it claims due outbox rows with a lease (store.alerts.claimDue:
// FOR UPDATE SKIP LOCKED on Postgres, so several masters share the outbox), builds each row's
// message once, sends it to every channel of the policy's group that has not had it yet, records
// every attempt (alert_deliveries), and marks the row done — or due again after an exponential
// backoff when a channel failed and trying again may help. A row claimed by a process that died
// is due again when its lease ends: delivery is at least once, never lost.
//
// Lifecycle: IDLE → RUNNING (start) → STOPPING (stop: the tick in progress finishes) → STOPPED.

import { alertAction, ALERT_EVENTS, type AlertAction } from "../core/alert-events.ts";
import type { Logger } from "../core/log.ts";
import type { Counter, MetricsRegistry } from "../metrics/registry.ts";
import type { AlertChannelForDelivery, AlertOutboxRow, AlertPolicy, Store } from "../store/store.ts";
import type { AlertEgress } from "./egress-check.ts";
import { buildMessage } from "./message.ts";
import { type SendResult, sendToChannel } from "./send.ts";
import type { AlertMessage } from "./templates.ts";

export interface DeliveryLoopOptions {
  store: Store;
  log: Logger;
  /** Who claims (the node id); a claim is renewed by nobody, it just runs out after leaseMs. */
  owner: string;
  baseUrl: string | null;
  egress: AlertEgress;
  /** How often to look for due rows when there is nothing to do. */
  intervalMs?: number;
  /** How long a claim holds a row (default 2 min): rows start within its first half, each request ends by timeoutMs. */
  leaseMs?: number;
  batch?: number;
  timeoutMs?: number;
  /** Retry n waits baseMs·2^(n-1), at most maxMs; after maxAttempts the row is given up (recorded). */
  backoff?: { baseMs: number; maxMs: number; maxAttempts: number };
  /** Counts every delivery attempt by channel type and status (porpoise_alerts_sent_total). */
  metrics?: MetricsRegistry;
}

export const DEFAULT_BACKOFF = { baseMs: 5_000, maxMs: 30 * 60_000, maxAttempts: 10 };

type LoopState = "IDLE" | "RUNNING" | "STOPPING" | "STOPPED";

export class AlertDeliveryLoop {
  private state: LoopState = "IDLE";
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<void> | null = null;
  private readonly interval: number;
  private readonly leaseMs: number;
  private readonly batch: number;
  private readonly timeoutMs: number;
  private readonly backoff: { baseMs: number; maxMs: number; maxAttempts: number };
  /** Sends so far, by outcome (for logs and tests). */
  readonly counts = { sent: 0, failed: 0, skipped: 0 };
  private readonly sentTotal: Counter<"channel_type" | "status"> | null;

  constructor(private readonly opts: DeliveryLoopOptions) {
    this.interval = opts.intervalMs ?? 1000;
    this.leaseMs = opts.leaseMs ?? 120_000;
    this.batch = opts.batch ?? 10;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.sentTotal =
      opts.metrics?.counter({
        name: "porpoise_alerts_sent_total",
        help: "Alert delivery attempts, by channel type (webhook, slack, email, pagerduty) and status (sent, failed); a failed one is retried with backoff",
        labels: ["channel_type", "status"],
      }) ?? null;
  }

  start(): void {
    this.transition(["IDLE"], "RUNNING");
    // First, what this node id claimed before a restart (kill -9 mid-delivery) is due again at once.
    this.running = this.opts.store.alerts
      .releaseClaims(this.opts.owner)
      .then((n) => void (n > 0 && this.opts.log.info("alerts claimed before the restart are due again", { count: n })))
      .catch((err) => this.opts.log.warn("could not release this node's earlier alert claims; they come back when their lease ends", { err }))
      .finally(() => {
        this.running = null;
        this.arm(0);
      });
  }

  /** Look now (a test-send, or a commit that wrote a row): the next tick comes at once. */
  nudge(): void {
    if (this.state !== "RUNNING" || this.running) return;
    this.arm(0);
  }

  async stop(): Promise<void> {
    if (this.state === "STOPPED" || this.state === "STOPPING") return;
    this.state = "STOPPING";
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    this.state = "STOPPED";
  }

  private transition(from: LoopState[], to: LoopState): void {
    if (!from.includes(this.state)) throw new Error(`alert delivery loop: ${this.state} → ${to} is not a transition`);
    this.state = to;
  }

  private arm(ms: number): void {
    if (this.state !== "RUNNING") return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => {
        this.running = null;
      });
    }, ms);
  }

  /** One round: claim, deliver, and come back at once while rows were due, else after the interval. */
  private async tick(): Promise<void> {
    let claimed = 0;
    try {
      const rows = await this.opts.store.alerts.claimDue(this.opts.owner, this.batch, this.leaseMs);
      claimed = rows.length;
      // No row starts after half the lease: one row (a few channels × timeoutMs) then still ends
      // inside its claim, so no other master sends it meanwhile. The rest come back when it ends.
      const lastStart = Date.now() + this.leaseMs / 2;
      for (const row of rows) {
        if (this.state !== "RUNNING" || Date.now() > lastStart) break;
        await this.deliver(row).catch((err) => this.opts.log.error("alert delivery failed; the row comes back when its claim runs out", { outboxId: row.id, err }));
      }
    } catch (err) {
      this.opts.log.warn("alert outbox not read; trying again", { err });
    }
    this.arm(claimed >= this.batch ? 0 : this.interval);
  }

  /** Delivers one claimed row to every channel that has not had it; marks it done or due again. */
  async deliver(row: AlertOutboxRow): Promise<void> {
    const { store } = this.opts;
    let policy: AlertPolicy | null = null;
    let channelIds: number[];
    if (row.kind === "TEST") {
      channelIds = row.channelId === null ? [] : [row.channelId];
    } else {
      [policy = null] = row.policyId === null ? [] : await store.alerts.policiesById([row.policyId]);
      if (!policy) return void (await store.alerts.finish(row.id, this.opts.owner, "its alert policy was deleted before delivery"));
      channelIds = await store.alerts.channelIdsOfGroup(policy.groupId);
    }
    const channels = await store.alerts.channelsForDelivery(channelIds);
    const done = await store.alerts.deliveredChannels(row.id);
    const events = policy?.events ?? ALL_EVENTS;
    const due = channels
      .filter((c) => !done.has(c.id))
      .map((c) => ({ channel: c, action: alertAction(row.kind, row.state, events, c.type) }))
      .filter((d): d is { channel: AlertChannelForDelivery; action: Exclude<AlertAction, "skip"> } => d.action !== "skip");
    this.counts.skipped += channels.filter((c) => !done.has(c.id)).length - due.length;
    let message: AlertMessage | null = null;
    let retry: string | null = null;
    let failed: string | null = null;
    for (const { channel, action } of due) {
      message ??= await buildMessage(store, row, this.opts.baseUrl);
      const result: SendResult = await sendToChannel(channel, message, action, { egress: this.opts.egress, dedupKey: dedupKeyOf(row, policy), now: new Date(), timeoutMs: this.timeoutMs });
      await store.alerts.recordDelivery({
        outboxId: row.id,
        projectId: row.projectId,
        channelId: channel.id,
        channelName: channel.name,
        channelType: channel.type,
        kind: row.kind,
        workflowInstanceId: row.workflowInstanceId,
        attempt: row.attempts,
        status: result.ok ? "sent" : "failed",
        detail: result.detail,
      });
      this.sentTotal?.labels(channel.type, result.ok ? "sent" : "failed").inc();
      if (result.ok) {
        this.counts.sent++;
        continue;
      }
      this.counts.failed++;
      const note = `${channel.type} channel "${channel.name}": ${result.detail}`;
      this.opts.log.warn("alert not delivered", { outboxId: row.id, channel: channel.name, type: channel.type, attempt: row.attempts, retryable: result.retryable, detail: result.detail });
      if (result.retryable) retry = retry ? `${retry}; ${note}` : note;
      else failed = failed ? `${failed}; ${note}` : note;
    }
    if (retry !== null && row.attempts < this.backoff.maxAttempts) {
      const wait = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** (row.attempts - 1));
      // ±20% jitter, so a receiver that comes back is not hit by every waiting row at once.
      const nextAt = new Date(Date.now() + Math.round(wait * (0.8 + Math.random() * 0.4)));
      await store.alerts.retryLater(row.id, this.opts.owner, nextAt, [retry, failed].filter(Boolean).join("; "));
      return;
    }
    const error = retry !== null ? `gave up after ${row.attempts} attempts: ${[retry, failed].filter(Boolean).join("; ")}` : failed;
    await store.alerts.finish(row.id, this.opts.owner, error);
  }
}

const ALL_EVENTS = Object.values(ALERT_EVENTS).reduce((a, b) => a | b, 0);

/** PagerDuty's dedup key: one incident per policy and target (its schedule, else its workflow). */
export function dedupKeyOf(row: AlertOutboxRow, policy: AlertPolicy | null): string {
  if (!policy) return `porpoise-test-${row.channelId ?? 0}`;
  return `porpoise-policy-${policy.id}-${policy.scheduleId !== null ? `schedule-${policy.scheduleId}` : `workflow-${policy.workflowId}`}`;
}
