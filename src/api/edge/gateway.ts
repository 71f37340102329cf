// The edge gateway (issue 13, docs/architecture.md §2 "Edge workers"): edge workers reach the cluster only
// through it, with a worker token and plain HTTP long-polls (core/edge-messages.ts). It
// translates to the real ports: ready tasks are claimed from the Bus ready queues (with their
// visibility lease) before a poll is answered, events are checked against the Store and
// published on the slot's event stream, log chunks go into the Store, kills come from the Bus.
// Nothing here trusts the worker: every event and chunk must name an attempt and dispatch token
// the Store holds; anything else is refused and counted.
//
// Sessions live in memory, keyed by the session id `<worker id>.<random>`; the edge_workers row
// (store/edge-workers.ts) is the truth, so another api node (or this one after a restart)
// accepts a session it did not issue once the row confirms it. A silent worker (no heartbeat for
// the edge lease) has its attempts rerun: edge-sweep.ts.

import { EDGE_ARCHES, EDGE_HOST_PREFIX, EDGE_PROTOCOL, EDGE_REFUSALS, MAX_POLL_HOLD_MS, type EdgeAttemptRef, type EdgeJob, type EventOutcome } from "../../core/edge-messages.ts";
import { PorpoiseError, UnauthorizedError, ValidationError } from "../../core/errors.ts";
import { MAX_LOG_CHUNK_BYTES } from "../../store/log-chunks.ts";
import type { Logger } from "../../core/log.ts";
import type { KillMessage, ReadyTask, TaskEvent } from "../../core/messages.ts";
import type { Bus, Unsubscribe } from "../../bus/bus.ts";
import { publishAgain, RecentEvents } from "../../bus/recent-events.ts";
import { storeReads, type WorkerReads } from "../../store/attempt-reads.ts";
import type { Store, WorkerToken } from "../../store/store.ts";
import { hashToken } from "../tokens.ts";

export class EdgeRefusal extends PorpoiseError {
  constructor(code: string, status: number, message: string, details: { path: string; message: string }[] = []) {
    super(code, status, message, { details });
  }
}

export interface EdgeGatewayOptions {
  store: Store;
  bus: Bus;
  log: Logger;
  version: string;
  /** A worker silent this long has its attempts rerun; it heartbeats every third of it. */
  leaseMs: number;
  /**
   * On Redis: tells when Redis lost its contents (cache/redis-resets.ts); the events published here
   * lately go again then, as a cluster worker's do (bus/recent-events.ts).
   */
  resets?: { onReset(listener: () => void | Promise<void>): void };
}

export interface EdgeCounts {
  /** Events or log chunks naming no attempt and token the Store holds (wrong token, wrong attempt). */
  forged: number;
  /** Results for attempts that ended otherwise meanwhile (rerun after a silence, killed). */
  superseded: number;
  /** Replays of a result accepted before. */
  duplicates: number;
  accepted: number;
  /** Ready tasks claimed but not handed out: their row is not this DISPATCH attempt any more. */
  dropped: number;
  sessions: number;
}

interface Session {
  id: string;
  workerId: string;
  groups: readonly string[];
  /** Date.now() of its last call. */
  lastSeen: number;
  token: WorkerToken;
  /** Claims handed out and not acked yet, by attempt key. */
  handed: Map<string, ReadyTask>;
  /** Attempts running at the last heartbeat, by attempt key. */
  running: Set<string>;
  kills: KillMessage[];
}

const key = (r: { taskInstanceId: number; attempt: number; token: string }) => `${r.taskInstanceId}:${r.attempt}:${r.token}`;
/** Token lookups are cached this long: a revoked token stops working within it. */
const TOKEN_CACHE_MS = 1000;
const POLL_SLICE_MS = 5000;

export class EdgeGateway {
  readonly counts: EdgeCounts = { forged: 0, superseded: 0, duplicates: 0, accepted: 0, dropped: 0, sessions: 0 };
  private readonly sessions = new Map<string, Session>();
  private readonly tokens = new Map<string, { token: WorkerToken | null; at: number }>();
  /** Kills heard lately, by attempt key, oldest first (onKill). */
  private readonly recentKills = new Map<string, { msg: KillMessage; at: number }>();
  private readonly reads: WorkerReads;
  private readonly stopping = new AbortController();
  private unsubscribe: Unsubscribe | null = null;

  /** Latest event published per recent attempt, when `resets` is given. */
  private readonly recent: RecentEvents | null;

  constructor(private readonly o: EdgeGatewayOptions) {
    this.reads = storeReads(o.store);
    this.recent = o.resets ? new RecentEvents() : null;
    // Awaited: the reset is acknowledged once these are in the streams again (cache/reset-acks.ts).
    o.resets?.onReset(() => this.republish());
  }

  /** Redis lost its contents: what edge workers reported lately goes to the slot streams again. */
  private async republish(): Promise<void> {
    const events = this.recent?.all() ?? [];
    if (events.length === 0) return;
    this.o.log.warn(`edge: publishing the latest events of ${events.length} recent edge task attempts again (Redis lost those no master had read yet; masters refuse the ones they recorded)`);
    // Thrown: the reset is not acknowledged, and the next check of the marker publishes them again.
    const failed = await publishAgain(this.o.bus, events);
    if (failed.length > 0) throw new Error(`edge: could not publish ${failed.length} of ${events.length} events again (the bus did not answer)`);
  }

  get leaseMs(): number {
    return this.o.leaseMs;
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.o.bus.subscribeKills((msg) => this.onKill(msg));
  }

  /** Ends held polls (they answer with no jobs) and stops listening for kills. */
  stop(): void {
    this.stopping.abort();
    this.unsubscribe?.();
  }

  // ── Authentication ────────────────────────────────────────────────────────────────────

  async authenticate(bearer: string): Promise<WorkerToken> {
    const hash = hashToken(bearer);
    const now = Date.now();
    let cached = this.tokens.get(hash);
    if (!cached || now - cached.at > TOKEN_CACHE_MS) {
      if (this.tokens.size > 10_000) this.tokens.clear();
      cached = { token: await this.o.store.workerTokens.authenticate(hash, new Date(now)), at: now };
      this.tokens.set(hash, cached);
    }
    if (!cached.token) throw new UnauthorizedError("this worker token is unknown, revoked or expired: ask an administrator for a worker token (POST /api/v1/worker-tokens)");
    return cached.token;
  }

  private async session(token: WorkerToken, id: string): Promise<Session> {
    const known = this.sessions.get(id);
    if (known && known.token.id === token.id) {
      known.token = token;
      known.lastSeen = Date.now();
      return known;
    }
    // Issued by another api node, or by this one before a restart: the row says whose it is.
    const workerId = id.slice(0, id.lastIndexOf("."));
    const row = workerId ? await this.o.store.edgeWorkers.get(workerId) : null;
    if (!row || row.session !== id || row.tokenId !== token.id) {
      throw new EdgeRefusal(EDGE_REFUSALS.session, 401, "this edge session is unknown or was taken over by a newer register of the same worker id: register again");
    }
    const s: Session = { id, workerId, groups: row.groups, lastSeen: Date.now(), token, handed: new Map(), running: new Set(row.running.map(key)), kills: [] };
    this.sessions.set(id, s);
    this.counts.sessions = this.sessions.size;
    return s;
  }

  private checkGroups(token: WorkerToken, groups: readonly string[]): void {
    const outside = groups.filter((g) => !token.groups.includes(g));
    if (outside.length > 0) {
      throw new EdgeRefusal(EDGE_REFUSALS.groups, 403, `this worker token serves worker groups ${token.groups.join(", ")}; not ${outside.join(", ")}`, [
        { path: "groups", message: `expected a subset of ${JSON.stringify(token.groups)}, got ${JSON.stringify(outside)} outside it` },
      ]);
    }
  }

  // ── Register ──────────────────────────────────────────────────────────────────────────

  async register(
    token: WorkerToken,
    r: { protocol: number; workerId: string; version: string; arch: string; platform: string; host: string; groups: string[]; slots: number; lost: EdgeAttemptRef[] },
  ): Promise<{ session: string; heartbeatMs: number; leaseMs: number; serverVersion: string }> {
    if (r.protocol !== EDGE_PROTOCOL || majorMinor(r.version) !== majorMinor(this.o.version)) {
      throw new EdgeRefusal(EDGE_REFUSALS.version, 409, `this gateway runs porpoise ${this.o.version} (edge protocol ${EDGE_PROTOCOL}); run an edge worker of version ${majorMinor(this.o.version)}.x`, [
        { path: "version", message: `expected ${majorMinor(this.o.version)}.x with protocol ${EDGE_PROTOCOL}, got ${r.version} with protocol ${r.protocol}` },
      ]);
    }
    if (!(EDGE_ARCHES as readonly string[]).includes(r.arch) || r.platform !== "linux") {
      throw new EdgeRefusal(EDGE_REFUSALS.arch, 409, `porpoise edge workers run on linux ${EDGE_ARCHES.join(" or ")}; this one is ${r.platform} ${r.arch}`, [
        { path: "arch", message: `expected linux with one of ${EDGE_ARCHES.join(", ")}, got ${r.platform} ${r.arch}` },
      ]);
    }
    this.checkGroups(token, r.groups);
    const session = `${r.workerId}.${Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString("base64url")}`;
    await this.o.store.edgeWorkers.register({ id: r.workerId, tokenId: token.id, session, host: r.host, version: r.version, arch: r.arch, platform: r.platform, groups: r.groups, slots: r.slots });
    // The old session of this worker id is over: its held polls find no session any more.
    for (const [id, s] of this.sessions) if (s.workerId === r.workerId) this.sessions.delete(id);
    this.sessions.set(session, { id: session, workerId: r.workerId, groups: r.groups, lastSeen: Date.now(), token, handed: new Map(), running: new Set(), kills: [] });
    this.counts.sessions = this.sessions.size;
    // A restarted worker's attempts died with it: they run again (as attempt + 1, without a retry).
    let lost = 0;
    for (const ref of r.lost) if (await this.publishLost(r.workerId, ref, `the edge worker ${r.workerId} restarted while the attempt ran; it runs again`)) lost++;
    this.o.log.info(`edge: worker ${r.workerId} (${r.platform}/${r.arch}, ${r.version}, groups ${r.groups.join(",")}) registered${lost ? `; ${lost} attempts lost in its restart run again` : ""}`);
    return { session, heartbeatMs: Math.max(100, Math.floor(this.o.leaseMs / 3)), leaseMs: this.o.leaseMs, serverVersion: this.o.version };
  }

  /** NEED_FAULT_TOLERANCE for an attempt this worker ran, when the Store still has it in flight there. */
  async publishLost(workerId: string, ref: EdgeAttemptRef, message: string): Promise<boolean> {
    const row = await this.o.store.taskInstances.get(ref.taskInstanceId);
    if (!row || row.attempt !== ref.attempt || row.dispatchToken !== ref.token || (row.state !== "RUNNING_EXECUTION" && row.state !== "DISPATCH")) return false;
    if (row.host !== null && row.host !== EDGE_HOST_PREFIX + workerId) return false;
    await this.o.bus.publishEvent(row.slot, { kind: "done", ...ref, slot: row.slot, state: "NEED_FAULT_TOLERANCE", exitCode: null, output: {}, message, endTime: new Date() });
    return true;
  }

  // ── Poll and ack ──────────────────────────────────────────────────────────────────────

  /**
   * Held in slices of POLL_SLICE_MS: between them (and before handing out what a slice claimed) the
   * token is checked again, so a revoked token gets no more work and its poll ends with a 401
   * within a slice. Tasks claimed just as the token was revoked are not handed out: their claims
   * expire and they are offered again.
   */
  async poll(bearer: string, sessionId: string, p: { capacity: number; groups: string[]; waitMs: number }, requestSignal: AbortSignal): Promise<EdgeJob[]> {
    let token = await this.authenticate(bearer);
    const s = await this.session(token, sessionId);
    this.checkGroups(token, p.groups);
    const deadline = Date.now() + Math.min(p.waitMs, MAX_POLL_HOLD_MS);
    let tasks: ReadyTask[] = [];
    for (;;) {
      const left = deadline - Date.now();
      const signal = AbortSignal.any([requestSignal, this.stopping.signal, AbortSignal.timeout(Math.max(0, Math.min(left, POLL_SLICE_MS)))]);
      tasks = await this.o.bus.claim(p.groups, p.capacity, signal);
      token = await this.authenticate(bearer).catch(async (err) => {
        if (tasks.length > 0) await this.giveBack(tasks, `worker ${s.workerId}'s token was revoked as they were claimed`);
        throw err;
      });
      if (tasks.length > 0 || Date.now() >= deadline - 5 || requestSignal.aborted || this.stopping.signal.aborted) break;
    }
    s.token = token;
    const jobs: EdgeJob[] = [];
    for (const task of tasks) {
      if (this.startedHere(task)) continue;
      const job = await this.jobOf(task).catch((err) => {
        this.o.log.warn(`edge: could not prepare task instance ${task.taskInstanceId} for worker ${s.workerId}; its claim expires and it is offered again`, { err });
        return undefined;
      });
      if (job === undefined) continue;
      if (job === null) {
        this.counts.dropped++;
        void this.o.bus.ack([task]).catch(() => {});
        continue;
      }
      s.handed.set(key(task), task);
      jobs.push(job);
    }
    // An answer lost on its way (the worker went away meanwhile) leaves the claims to expire:
    // the tasks are offered again after the Bus's claim lease.
    return jobs;
  }

  /**
   * A copy of a dispatch an edge worker of this gateway already started (a session reported it
   * running, or this gateway published an event of it lately): a master re-offered it — after a
   * takeover, a reload or a Redis flush — before the worker's report was recorded, so the Store
   * still says DISPATCH and jobOf would hand it to a second worker. It is dropped (counted), and
   * its latest event goes to its slot's stream once more, as a cluster worker does with a copy it
   * started (worker.ts launch; its start record does the same across workers: dispatch-records.ts).
   * A claim handed out whose answer was lost is not in either: it is offered again, as it must be.
   */
  private startedHere(task: ReadyTask): boolean {
    const k = key(task);
    const latest = this.recent?.latest(k);
    if (!latest && ![...this.sessions.values()].some((s) => s.running.has(k))) return false;
    this.counts.dropped++;
    void this.o.bus.ack([task]).catch(() => {});
    if (latest) void this.o.bus.publishEvent(latest.slot, latest).catch(() => {});
    this.o.log.info(`edge: dropped a copy of task instance ${task.taskInstanceId} attempt ${task.attempt}: an edge worker here started it${latest ? `; its ${latest.kind} event was published again` : ""}`);
    return true;
  }

  /** Claimed tasks that will not be handed out go back to their queues at once (not after the claim lease). */
  private async giveBack(tasks: readonly ReadyTask[], why: string): Promise<void> {
    try {
      await this.o.bus.ack(tasks);
      for (const t of tasks) await this.o.bus.enqueue(t.workerGroup, t);
      this.o.log.info(`edge: ${tasks.length} claimed tasks went back to their queues: ${why}`);
    } catch (err) {
      this.o.log.warn(`edge: ${tasks.length} claimed tasks could not go back to their queues (${why}); they are offered again when their claims expire`, { err });
    }
  }

  /** What the worker needs to run a claimed task; null when its row is not this DISPATCH attempt. */
  private async jobOf(task: ReadyTask): Promise<EdgeJob | null> {
    const row = await this.reads.dispatchRow(task.taskInstanceId);
    if (!row || row.attempt !== task.attempt || row.dispatchToken !== task.token || row.state !== "DISPATCH" || row.workflowInstanceId !== task.workflowInstanceId) return null;
    const instance = await this.reads.instance(row.workflowInstanceId);
    const definition = instance ? await this.reads.task(instance.workflowId, instance.version, row.taskName) : null;
    if (!instance || !definition) return null;
    return { ready: task, row: { ...row }, instance, task: definition };
  }

  async ack(token: WorkerToken, sessionId: string, tasks: readonly ReadyTask[]): Promise<void> {
    const s = await this.session(token, sessionId);
    const mine = tasks.map((t) => s.handed.get(key(t))).filter((t): t is ReadyTask => t !== undefined);
    for (const t of mine) s.handed.delete(key(t));
    if (mine.length > 0) await this.o.bus.ack(mine);
  }

  // ── Heartbeat and kills ───────────────────────────────────────────────────────────────

  async heartbeat(token: WorkerToken, sessionId: string, running: readonly EdgeAttemptRef[]): Promise<KillMessage[]> {
    const s = await this.session(token, sessionId);
    if (!(await this.o.store.edgeWorkers.heartbeat(s.workerId, s.id, running))) {
      this.sessions.delete(s.id);
      throw new EdgeRefusal(EDGE_REFUSALS.session, 401, `worker id ${s.workerId} was registered again by a newer session: register again`);
    }
    s.running = new Set(running.map(key));
    this.pruneKills();
    for (const k of s.running) {
      const kill = this.recentKills.get(k);
      if (kill && !s.kills.includes(kill.msg)) s.kills.push(kill.msg);
    }
    return s.kills.splice(0);
  }

  /**
   * Kills are broadcasts: one for an attempt no session here lists yet (its "running" is on its
   * way, or its worker's session lives on another api node) is kept for a lease and handed out
   * with the next heartbeat that lists the attempt.
   */
  private onKill(msg: KillMessage): void {
    const k = key(msg);
    this.pruneKills();
    this.recentKills.set(k, { msg, at: Date.now() });
    for (const s of this.sessions.values()) if (s.running.has(k) || s.handed.has(k)) s.kills.push(msg);
  }

  private pruneKills(): void {
    const old = Date.now() - this.o.leaseMs;
    for (const [k, v] of this.recentKills) {
      if (v.at >= old) break;
      this.recentKills.delete(k);
    }
  }

  // ── Events and logs ───────────────────────────────────────────────────────────────────

  /** Checks each event against the Store, then publishes it on its slot's stream; one outcome per event. */
  async events(token: WorkerToken, sessionId: string, events: readonly TaskEvent[]): Promise<EventOutcome[] | "forged"> {
    const s = await this.session(token, sessionId);
    const host = EDGE_HOST_PREFIX + s.workerId;
    const outcomes: EventOutcome[] = [];
    for (const e of events) {
      const row = await this.o.store.taskInstances.get(e.taskInstanceId);
      if (!row || row.attempt !== e.attempt || row.dispatchToken !== e.token || row.workflowInstanceId !== e.workflowInstanceId || row.slot !== e.slot) {
        this.counts.forged++;
        this.o.log.warn(`edge: refused a forged ${e.kind} event from worker ${s.workerId} for task instance ${e.taskInstanceId} attempt ${e.attempt} (no such attempt and dispatch token)`);
        return "forged";
      }
      const ended = row.state !== "DISPATCH" && row.state !== "RUNNING_EXECUTION";
      if (ended || (row.host !== null && row.host !== host)) {
        // The same result again (a resend after a lost answer) is accepted once; anything else
        // came after the attempt ended otherwise (rerun after a silence, killed): superseded.
        if (e.kind === "done" && row.host === host && row.state === e.state) {
          this.counts.duplicates++;
          outcomes.push("duplicate");
        } else {
          this.counts.superseded++;
          outcomes.push("superseded");
        }
        continue;
      }
      const event: TaskEvent = e.kind === "warning" ? e : e.kind === "running" ? { ...e, host } : { ...e, ...(e.host !== undefined ? { host } : {}) };
      await this.o.bus.publishEvent(row.slot, event);
      this.recent?.record(key(event), event);
      this.counts.accepted++;
      outcomes.push("accepted");
      if (e.kind === "running") s.running.add(key(e));
      const claimed = s.handed.get(key(e));
      if (claimed && e.kind !== "warning") {
        s.handed.delete(key(e));
        void this.o.bus.ack([claimed]).catch(() => {});
      }
    }
    return outcomes;
  }

  async logs(token: WorkerToken, sessionId: string, ref: EdgeAttemptRef, chunks: readonly { seq: number; byteOffset: number; data: string }[]): Promise<void> {
    const s = await this.session(token, sessionId);
    const row = await this.reads.dispatchRow(ref.taskInstanceId);
    if (!row || row.attempt !== ref.attempt || row.dispatchToken !== ref.token || row.workflowInstanceId !== ref.workflowInstanceId) {
      this.counts.forged++;
      throw new EdgeRefusal(EDGE_REFUSALS.forged, 403, `worker ${s.workerId} sent log chunks for task instance ${ref.taskInstanceId} attempt ${ref.attempt}, which the Store holds under no such dispatch token`);
    }
    const decoded = chunks.map((c) => ({ taskInstanceId: ref.taskInstanceId, seq: c.seq, byteOffset: c.byteOffset, data: Buffer.from(c.data, "base64") }));
    // The schema caps the base64 text; the bytes are checked exactly here.
    const big = decoded.findIndex((c) => c.data.byteLength > MAX_LOG_CHUNK_BYTES);
    if (big >= 0) {
      throw new ValidationError(`log chunk ${decoded[big]!.seq} holds ${decoded[big]!.data.byteLength} bytes`, [
        { path: `chunks.${big}.data`, message: `expected at most ${MAX_LOG_CHUNK_BYTES} bytes (256 KiB) of log, got ${decoded[big]!.data.byteLength}` },
      ]);
    }
    await this.o.store.logChunks.append(decoded);
  }

  /** The groups of the sessions heard from within the edge lease (this node's "served groups" in `all`). */
  liveGroups(): string[] {
    const since = Date.now() - this.o.leaseMs;
    return [...new Set([...this.sessions.values()].filter((s) => s.lastSeen >= since).flatMap((s) => s.groups))];
  }

  /** Sessions by worker id (the sweep asks whether a silent worker is known here). */
  sessionsOf(workerId: string): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.workerId === workerId) n++;
    return n;
  }
}

function majorMinor(version: string): string {
  return version.split(".").slice(0, 2).join(".");
}
