// The worker's ports over the edge link (docs/architecture.md §2 "Edge workers"), so src/worker/worker.ts runs
// unchanged on an edge device:
//   - Bus.claim   → long-polls the gateway, which claims from the real ready queues before it
//                   answers; each job's row, instance and task are kept for `reads`.
//   - Bus.ack     → tells the gateway (best effort: a lost ack only lets the claim expire, and the
//                   copy offered again is dropped by the dispatch check).
//   - publishEvent → the spool (spool.ts), sent in order by one sender; "running" and "done"
//                   also keep the journal of started attempts that a restarted worker reports.
//   - subscribeKills → kills from heartbeats, and a kill for every attempt the gateway calls
//                   superseded (it ended otherwise meanwhile: running on is pointless).
//   - reads (WorkerReads) → the job's row, instance and task; log chunks → the spool.
// The rest of the Bus (event consumers, wakes, channels) belongs to masters and api nodes.

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { Bus, BusDropCounts, DeliveredEvent, EventConsumer, ReadyTask, Unsubscribe } from "../../bus/bus.ts";
import { edgeAttemptRefSchema, eventsResponseSchema, pollResponseSchema, type EdgeAttemptRef, type EdgeJob } from "../../core/edge-messages.ts";
import { PorpoiseError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { KillMessage, TaskEvent, WakeMessage } from "../../core/messages.ts";
import type { WorkerReads } from "../../store/attempt-reads.ts";
import { EdgeHttpError, type EdgeLink, isSessionGone } from "./edge-link.ts";
import { Spool, type Spooled } from "./spool.ts";

const attemptKey = (r: { taskInstanceId: number; attempt: number; token: string }) => `${r.taskInstanceId}:${r.attempt}:${r.token}`;
const POLL_SLACK_MS = 10_000;
const JOB_LIMIT = 1000;

export class EdgeBus implements Bus {
  private readonly jobs = new Map<number, EdgeJob>();
  private readonly killHandlers = new Set<(m: KillMessage) => void>();
  private readonly started = new Map<string, EdgeAttemptRef>();
  private readonly logPositions = new Map<number, { size: number; nextSeq: number }>();
  private readonly spool: Spool;
  private readonly journalDir: string;
  private sender: Promise<void> | null = null;
  private closed = false;
  /** Events the gateway refused as superseded, and results it had already (counted, not resent). */
  superseded = 0;
  duplicates = 0;
  refused = 0;
  readonly reads: WorkerReads;

  constructor(private readonly o: { link: EdgeLink; dataDir: string; log: Logger }) {
    this.spool = new Spool(join(o.dataDir, "edge", "spool"));
    this.journalDir = join(o.dataDir, "edge", "started");
    mkdirSync(this.journalDir, { recursive: true, mode: 0o700 });
    const job = (id: number) => this.jobs.get(id);
    this.reads = {
      dispatchRow: async (id) => job(id)?.row ?? null,
      instance: async (wid) => [...this.jobs.values()].find((j) => j.row.workflowInstanceId === wid)?.instance ?? null,
      task: async (workflowId, version, name) =>
        [...this.jobs.values()].find((j) => j.instance.workflowId === workflowId && j.instance.version === version && j.task.name === name)?.task ?? null,
      // Datasource passwords stay in the cluster: sql tasks run on datacenter workers.
      datasource: async () => null,
      logChunks: {
        append: async (chunks) => {
          for (const c of chunks) {
            const j = job(c.taskInstanceId);
            if (!j) throw new Error(`edge: log chunk for task instance ${c.taskInstanceId}, which this worker does not run`);
            this.spool.add({ type: "log", attempt: refOf(j.ready), seq: c.seq, byteOffset: c.byteOffset, data: Buffer.from(c.data).toString("base64") });
            this.logPositions.set(c.taskInstanceId, { size: c.byteOffset + c.data.byteLength, nextSeq: c.seq + 1 });
          }
        },
        position: async (id) => this.logPositions.get(id) ?? { size: 0, nextSeq: 1 },
      },
    };
  }

  /** Attempts a previous process of this worker started and never reported the end of. */
  lost(): EdgeAttemptRef[] {
    const out: EdgeAttemptRef[] = [];
    for (const name of readdirSync(this.journalDir)) {
      if (!name.endsWith(".json")) continue;
      const path = join(this.journalDir, name);
      const parsed = (() => {
        try {
          return edgeAttemptRefSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
        } catch {
          return null;
        }
      })();
      if (parsed?.success && !this.started.has(attemptKey(parsed.data))) out.push(parsed.data);
    }
    return out;
  }

  /** The gateway took the lost attempts: forget them. */
  lostReported(): void {
    for (const ref of this.lost()) rmSync(this.journalPath(ref), { force: true });
  }

  running(): EdgeAttemptRef[] {
    return [...this.started.values()];
  }

  /** Starts the sender (after the link registered). */
  start(): void {
    this.sender ??= this.send();
  }

  private journalPath(r: EdgeAttemptRef): string {
    return join(this.journalDir, `${r.taskInstanceId}-${r.attempt}.json`);
  }

  // ── Bus ───────────────────────────────────────────────────────────────────────────────

  async claim(groups: readonly string[], max: number, signal?: AbortSignal): Promise<ReadyTask[]> {
    const { link } = this.o;
    for (let n = 0; !this.closed && !signal?.aborted; ) {
      try {
        const r = await link.call("/edge/v1/poll", { session: link.session, capacity: Math.min(max, 100), groups: [...groups] }, pollResponseSchema, {
          ...(signal ? { signal } : {}),
          timeoutMs: 25_000 + POLL_SLACK_MS,
        });
        n = 0;
        for (const j of r.jobs) {
          if (this.jobs.size >= JOB_LIMIT) this.jobs.delete(this.jobs.keys().next().value!);
          this.jobs.set(j.ready.taskInstanceId, j);
        }
        if (r.jobs.length > 0) return r.jobs.map((j) => j.ready);
      } catch (err) {
        if (signal?.aborted || this.closed) break;
        if (isSessionGone(err)) await link.renew();
        else {
          this.o.log[n === 0 ? "warn" : "debug"](`edge: poll failed (${(err as Error).message}); trying again`);
          if (!(await link.backoff(n++))) break;
        }
      }
    }
    return [];
  }

  async ack(tasks: readonly ReadyTask[]): Promise<void> {
    const { link } = this.o;
    if (tasks.length === 0 || link.state !== "LINKED") return;
    await link.call("/edge/v1/ack", { session: link.session, tasks }, z.object({})).catch((err) => this.o.log.debug(`edge: ack failed: ${(err as Error).message}`));
  }

  async enqueue(): Promise<void> {
    throw notOnEdge("enqueue");
  }

  async depth(): Promise<number> {
    return 0;
  }

  async publishEvent(_slot: number, event: TaskEvent): Promise<void> {
    if (this.closed) throw new PorpoiseError("BUS_CLOSED", 503, "the edge link is closed");
    const ref = refOf(event);
    this.spool.add({ type: "event", event });
    if (event.kind === "running") {
      this.started.set(attemptKey(ref), ref);
      writeFileSync(this.journalPath(ref), JSON.stringify(ref), { mode: 0o600 });
    } else if (event.kind === "done") {
      this.started.delete(attemptKey(ref));
      this.logPositions.delete(ref.taskInstanceId);
      rmSync(this.journalPath(ref), { force: true });
    }
  }

  async subscribeKills(handler: (message: KillMessage) => void): Promise<Unsubscribe> {
    this.killHandlers.add(handler);
    return () => this.killHandlers.delete(handler);
  }

  kill(message: KillMessage): void {
    for (const h of this.killHandlers) h(message);
  }

  consumeEvents(): EventConsumer {
    throw notOnEdge("consumeEvents");
  }
  async ackEvents(_events: readonly DeliveredEvent[]): Promise<void> {
    throw notOnEdge("ackEvents");
  }
  async publishKill(): Promise<void> {
    throw notOnEdge("publishKill");
  }
  async publishWake(_m: WakeMessage): Promise<void> {
    throw notOnEdge("publishWake");
  }
  async subscribeWakes(): Promise<Unsubscribe> {
    throw notOnEdge("subscribeWakes");
  }
  async publish(): Promise<void> {
    throw notOnEdge("publish");
  }
  async subscribe(): Promise<Unsubscribe> {
    throw notOnEdge("subscribe");
  }
  dropped(): BusDropCounts {
    return { unsigned: 0, forged: 0, malformed: 0 };
  }

  /** Stops the sender after it tried what is spooled once more (within `deadlineMs`); the rest stays on disk. */
  async close(deadlineMs = 2000): Promise<void> {
    const flushed = this.spool.size === 0 ? Promise.resolve() : new Promise<void>((r) => setTimeout(r, deadlineMs));
    await flushed;
    this.closed = true;
    this.o.link.stop();
    await this.sender;
  }

  /** Items still owed to the gateway. */
  get unsent(): number {
    return this.spool.size;
  }

  /** Items still owed to the gateway, by type: task events (results among them) and log chunks. */
  unsentByType(): { event: number; log: number } {
    return { ...this.spool.waiting };
  }

  // ── The sender ────────────────────────────────────────────────────────────────────────

  private async send(): Promise<void> {
    const { link } = this.o;
    const stop = link.stopping.signal;
    for (let n = 0; !stop.aborted; ) {
      await this.spool.waitForItems(stop);
      const batch = this.spool.head();
      if (batch.length === 0) continue;
      try {
        await this.deliver(batch);
        n = 0;
      } catch (err) {
        if (stop.aborted) break;
        if (isSessionGone(err)) {
          await link.renew();
          continue;
        }
        if (err instanceof EdgeHttpError && err.httpStatus >= 400 && err.httpStatus < 500 && err.httpStatus !== 401 && err.httpStatus !== 429) {
          // Refused for good (forged, malformed): resending cannot help.
          this.refused += batch.length;
          this.o.log.error(`edge: the gateway refused ${batch.length} spooled ${batch[0]!.item.type} items for good (${err.code}: ${err.message}); dropping them`);
          this.spool.done(batch.length);
          continue;
        }
        this.o.log[n === 0 ? "warn" : "debug"](`edge: sending ${batch.length} spooled items failed (${(err as Error).message}); ${this.spool.size} wait, trying again`);
        await link.backoff(n++);
      }
    }
  }

  private async deliver(batch: Spooled[]): Promise<void> {
    const { link } = this.o;
    const first = batch[0]!.item;
    if (first.type === "log") {
      const chunks = batch.map((s) => s.item).filter((i) => i.type === "log").map((i) => ({ seq: i.seq, byteOffset: i.byteOffset, data: i.data }));
      await link.call("/edge/v1/logs", { session: link.session, attempt: first.attempt, chunks }, z.object({}));
      this.spool.done(batch.length);
      return;
    }
    const events = batch.map((s) => s.item).flatMap((i) => (i.type === "event" ? [i.event] : []));
    const r = await link.call("/edge/v1/events", { session: link.session, events }, eventsResponseSchema);
    this.spool.done(batch.length);
    r.outcomes.forEach((outcome, i) => {
      const e = events[i]!;
      if (outcome === "duplicate") this.duplicates++;
      if (outcome !== "superseded") return;
      this.superseded++;
      this.o.log.warn(`edge: the gateway refused the ${e.kind} report of task instance ${e.taskInstanceId} attempt ${e.attempt}: superseded (it ended otherwise meanwhile, or runs elsewhere); stopping it here`);
      this.kill({ taskInstanceId: e.taskInstanceId, attempt: e.attempt, token: e.token, reason: "the attempt was superseded while this edge worker was cut off; it runs again elsewhere" });
    });
  }
}

function refOf(r: { taskInstanceId: number; workflowInstanceId: number; slot: number; epoch: number; attempt: number; token: string }): EdgeAttemptRef {
  return { taskInstanceId: r.taskInstanceId, workflowInstanceId: r.workflowInstanceId, slot: r.slot, epoch: r.epoch, attempt: r.attempt, token: r.token };
}

function notOnEdge(what: string): PorpoiseError {
  return new PorpoiseError("NOT_ON_EDGE", 500, `${what} is not available on an edge worker (masters and api nodes only)`);
}
