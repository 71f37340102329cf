// The worker: claims ready tasks of its worker groups from the Bus (up to its free slots,
// woken by enqueue — never polling), checks each against its task-instance row (exists,
// same attempt and token, still DISPATCH — docs/architecture.md §3.4: anything else is dropped and
// counted; a master in the same process may vouch for the row from memory instead, see
// cache/dispatch-vouch.ts), acks the claim, runs it with runAttempt (a noop is answered at once)
// and reports RUNNING and the result on the slot's event stream of the Bus, which the master
// owning the slot consumes. It never writes task state itself: the master is the only writer.
//
// Delivery is at-least-once, so one attempt can arrive twice: a copy of an attempt this
// worker is running (or ran recently) is dropped and counted like a forged one.
//
// After a restart, attempts whose process outlived the old porpoise are adopted, not rerun
// (adoption.ts): `adopt` (called by the master's restart recovery, before it marks anything
// NEED_FAULT_TOLERANCE) picks them, `startAdopted` (once the master drives their instances)
// follows each to its end and reports its real result. They hold worker slots like any attempt.
//
// Shutdown drains: stop pulling, let running attempts finish until the deadline, then kill
// what is left. Those kills are NOT reported as KILL: nobody asked to kill the task, the
// worker went away. The attempt stays active in the Store, and the master's recovery marks
// it NEED_FAULT_TOLERANCE and runs a new attempt (restart, or worker failover in a cluster).
//
// A cluster worker cut off longer than its lease (lease-watch.ts) kills its running attempts:
// the masters count it dead by then and run them elsewhere. Each is reported as
// NEED_FAULT_TOLERANCE — refused as stale where a master has rerun it already, and rerun
// without a retry where no master noticed (the worker was back before a sweep).

import { refuseStart } from "./start-refusals.ts";
import { clockFromParams } from "../core/params/index.ts";
import { withWorkerBuiltins } from "./attempt-params.ts";
import { rmSync } from "node:fs";
import { hostname } from "node:os";
import { connectionUrl } from "../core/datasource-fields.ts";
import { AckBatch } from "./ack-batch.ts";
import { attemptKey, EventReporter } from "./event-reporter.ts";
import { checkedAddress, defaultEgress, type Egress } from "./egress.ts";
import type { Bus, ReadyTask, Unsubscribe } from "../bus/bus.ts";
import type { Logger } from "../core/log.ts";
import { attemptLogPath, attemptWorkDir } from "../core/attempt-paths.ts";
import type { KillMessage, TaskEvent } from "../core/messages.ts";
import type { DispatchVouch } from "../cache/dispatch-vouch.ts";
import type { DispatchRecords } from "../cache/dispatch-records.ts";
import { RetryAborted, retryStore, type StoreRetryOptions } from "../store/retry.ts";
import type { Store } from "../store/store.ts";
import type { WorkerMetrics } from "../metrics/worker-metrics.ts";
import type { TaskInstance } from "../store/store.ts";
import { storeReads, type WorkerReads } from "../store/attempt-reads.ts";
import { checkDeclaredOut } from "./attempt-params.ts";
import { type Adoptable, findAdoptable, loggedLineCounts } from "./adoption.ts";
import { attemptFiles } from "./attempt-files.ts";
import { DEFAULT_KILL_GRACE_MS, runAttempt } from "./executor.ts";
import { LeaseWatch } from "./lease-watch.ts";
import type { IdentityResolver, TaskIdentity } from "./run-as.ts";
import { openTaskLogAsync } from "./task-log.ts";
import { startLogShipping } from "./log-shipper.ts";
import { adoptScriptProcess } from "./task-types/process-runner.ts";
import type { Datasource, TaskResult } from "./task-types/types.ts";

export interface WorkerDeps {
  /** Where attempts are read from: the Store (datacenter workers, `all`), or `reads` (an edge worker: the gateway's answers). */
  store?: Store;
  reads?: WorkerReads;
  bus: Bus;
  log: Logger;
  /** Queue waits, run times and dispatch results (src/metrics/worker-metrics.ts); absent: not counted. */
  metrics?: WorkerMetrics;
  dataDir: string;
  /** Parent of the attempts' working directories (attempt-dirs.ts); default `<dataDir>/work`. */
  workDir?: string;
  /** Who shell and python tasks run as, from their project's tenant (run-as.ts); left out: porpoise's own user. */
  identity?: IdentityResolver;
  slots: number;
  groups: readonly string[];
  /**
   * Recorded as the host of the attempts it runs. A cluster worker passes its registry node id here,
   * so a master can tell whose attempts died with a worker (docs/architecture.md §3.10).
   */
  host?: string;
  env?: Readonly<Record<string, string>>;
  logMaxBytes?: number;
  killGraceMs?: number;
  /** Where http tasks and sql datasources may connect (egress.ts); the built-in policy when left out. */
  egress?: Egress;
  /**
   * The in-process twin of the dispatch check (cache/dispatch-vouch.ts): a master in the same process
   * vouches for a ready task from memory; undefined from it, or none given, and the row is read from the Store.
   */
  vouch?: DispatchVouch;
  /** The cluster's cached dispatch rows (cache/dispatch-records.ts), asked before the Store. */
  records?: DispatchRecords;
  /**
   * A cluster worker ships each attempt's log into the Store as it grows (log-shipper.ts), so any
   * api node serves it and it outlives this machine; `porpoise all` serves its local files.
   */
  shipLogs?: boolean;
  /**
   * A cluster worker's lease: its attempts are killed once the last heartbeat the Store answered
   * (`lastContactMs`, performance.now() when it was sent) is older than `leaseMs` (lease-watch.ts).
   */
  lease?: { leaseMs: number; lastContactMs: () => number };
  /**
   * A worker on Redis keeps its latest event per recent attempt and publishes it again when Redis
   * lost its contents (`resets`, cache/redis-resets.ts) or the attempt is delivered to it again
   * (recent-events.ts). `all` on its in-process bus loses nothing and keeps none.
   */
  republish?: { resets?: { onReset(listener: () => void | Promise<void>): void } };
}

interface Running {
  abort: AbortController;
  done: Promise<void>;
}

const CACHE_LIMIT = 1000;
/** Abort reason of the shutdown kill: the attempt ends without a report (see above). */
class ShutdownKill extends Error {}
/** Abort reason when the worker was cut off longer than its lease: reported NEED_FAULT_TOLERANCE. */
class LeaseLapse extends Error {}

/** A process the shutdown killed is not adopted after the restart: its attempt runs again. */
function forgetProcess(attemptDir: string): void {
  rmSync(attemptFiles(attemptDir).pid, { force: true });
}

export class Worker {
  private readonly running = new Map<string, Running>();
  private readonly pullAbort = new AbortController();
  private readonly host: string;
  private readonly reads: WorkerReads;
  private unsubscribe: Unsubscribe | null = null;
  private watch: LeaseWatch | null = null;
  private loop: Promise<void> | null = null;
  private slotFreed: (() => void) | null = null;
  private draining = false;
  /** `id:attempt` of attempts started here lately, to drop duplicate deliveries. */
  private readonly seen = new Set<string>();
  private readonly acks: AckBatch;
  /** Messages with no matching row, attempt, token or DISPATCH state (docs/architecture.md §3.4). */
  dropped = 0;
  /** Publishes task events, resends what failed, republishes after a Redis loss (event-reporter.ts). */
  private readonly reporter: EventReporter;
  /** Attempts picked by `adopt`, waiting for `startAdopted`. */
  private adoptable: { found: Adoptable; abort: AbortController; entry: Running; key: string }[] = [];

  constructor(private readonly deps: WorkerDeps) {
    this.host = deps.host ?? hostname();
    this.acks = new AckBatch(deps.bus, deps.log);
    if (deps.reads) this.reads = deps.reads;
    else if (deps.store) this.reads = storeReads(deps.store);
    else throw new Error("Worker: pass a store or reads");
    this.reporter = new EventReporter(deps.bus, deps.log, deps.republish !== undefined);
    // Redis lost its contents: the start records of the attempts started here go back first (a
    // copy offered again must find them: dispatch-records.ts), then their latest events.
    deps.republish?.resets?.onReset(async () => {
      await deps.records?.restoreStarts();
      await this.reporter.republishRecent();
    });
  }

  private report(event: TaskEvent): void {
    this.reporter.report(event);
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.deps.bus.subscribeKills((msg) => this.onKill(msg));
    if (this.deps.lease) {
      this.watch = new LeaseWatch({ ...this.deps.lease, onLapse: (ms) => this.cutOff(ms) });
      this.watch.start();
    }
    this.loop = this.pullLoop();
  }

  /** Cut off longer than the lease: the masters run these attempts elsewhere by now (see above). */
  private cutOff(ms: number): void {
    const leaseMs = this.deps.lease!.leaseMs;
    const live = [...this.running.values()].filter((r) => !r.abort.signal.aborted);
    if (live.length === 0) return;
    this.deps.log.warn(`worker: cut off for ${ms} ms (longer than its lease of ${leaseMs} ms; the masters run its attempts elsewhere): stopping ${live.length} running attempts`);
    for (const r of live) r.abort.abort(new LeaseLapse(`the worker was cut off for ${ms} ms, longer than its lease of ${leaseMs} ms; the attempt runs again elsewhere`));
  }

  /** Stops pulling; running attempts get until `deadlineMs` to finish, then they are killed. */
  async stop(deadlineMs: number): Promise<void> {
    this.draining = true;
    this.watch?.stop();
    this.pullAbort.abort();
    this.slotFreed?.();
    await this.loop;
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), deadlineMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      this.deps.log.warn(`worker: ${this.running.size} task attempts still running at the shutdown deadline; killing them`);
      for (const r of this.running.values()) r.abort.abort(new ShutdownKill("the worker shut down before the attempt ended"));
      await Promise.all([...this.running.values()].map((r) => r.done));
    }
    await this.acks.flushed();
    this.unsubscribe?.();
  }

  /**
   * Restart recovery, before the master marks interrupted attempts: of the Store's in-flight
   * attempts `rows`, the ones whose process ended or still runs (adoption.ts). They are held as
   * running from now on (a redelivered copy of one is dropped); returns their ids.
   */
  adopt(rows: readonly TaskInstance[]): number[] {
    for (const found of findAdoptable(this.deps.dataDir, rows, this.deps.workDir)) {
      const key = attemptKey(found.row.id, found.row.attempt, found.row.dispatchToken!);
      const abort = new AbortController();
      const entry: Running = { abort, done: Promise.resolve() };
      this.running.set(key, entry);
      this.seen.add(key);
      this.adoptable.push({ found, abort, entry, key });
    }
    if (this.adoptable.length > 0) this.deps.log.info(`restart: adopting ${this.adoptable.length} task attempts whose process outlived the previous porpoise (${this.adoptable.filter((a) => a.found.ended).length} already ended)`);
    return this.adoptable.map((a) => a.found.row.id);
  }

  /** Follows the adopted attempts to their end and reports them (the master drives their instances by now). */
  startAdopted(): void {
    for (const { found, abort, entry, key } of this.adoptable.splice(0)) {
      entry.done = this.runAdopted(found, abort.signal)
        .catch((err) => this.deps.log.error(`worker: adopted task instance ${found.row.id} failed unexpectedly`, { err }))
        .finally(() => {
          this.running.delete(key);
          this.slotFreed?.();
        });
    }
  }

  get busy(): number {
    return this.running.size;
  }

  private async pullLoop(): Promise<void> {
    while (!this.draining) {
      const free = this.deps.slots - this.running.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        this.slotFreed = null;
        continue;
      }
      let tasks: ReadyTask[];
      try {
        tasks = await this.deps.bus.claim(this.deps.groups, free, this.pullAbort.signal);
      } catch (err) {
        if (this.draining) break;
        this.deps.log.error("worker: pulling ready tasks failed; stopping the worker loop", { err });
        break;
      }
      for (const task of tasks) this.launch(task);
    }
  }

  private launch(rt: ReadyTask): void {
    // Keyed with the token: a forged copy (other token) can neither shadow the real attempt
    // nor make it look like a duplicate, and a kill must name the token too.
    const key = attemptKey(rt.taskInstanceId, rt.attempt, rt.token);
    if (this.running.has(key) || this.seen.has(key)) {
      this.dropped++;
      this.deps.metrics?.dispatch("duplicate");
      this.ack(rt);
      // Offered again: its master may not have what was reported (Redis lost it). Refused as stale if it has.
      const again = this.reporter.republishLatest(key);
      this.deps.log.debug(`worker: dropped a duplicate delivery of task instance ${rt.taskInstanceId} attempt ${rt.attempt}${again ? `; its ${again} event was published again` : ""}`);
      return;
    }
    if (this.seen.size >= CACHE_LIMIT) this.seen.delete(this.seen.values().next().value!);
    this.seen.add(key);
    const abort = new AbortController();
    // Registered before the row check, so a kill published meanwhile still reaches it.
    const entry: Running = { abort, done: Promise.resolve() };
    this.running.set(key, entry);
    entry.done = this.run(rt, abort.signal)
      .catch((err) => {
        this.seen.delete(key); // it did not run to a report: a redelivery may try again
        const ids = { taskInstanceId: rt.taskInstanceId, workflowInstanceId: rt.workflowInstanceId, attempt: rt.attempt };
        if (err instanceof RetryAborted) this.deps.log.warn(`worker: task instance ${rt.taskInstanceId} not started: ${err.message}`, ids);
        else this.deps.log.error(`worker: task instance ${rt.taskInstanceId} failed unexpectedly`, { ...ids, err });
      })
      .finally(() => {
        this.running.delete(key);
        this.slotFreed?.();
      });
  }

  private async run(rt: ReadyTask, signal: AbortSignal): Promise<void> {
    const { reads } = this;
    const sink = { report: (e: TaskEvent) => this.report(e) };
    // The reads before the start wait out a store outage (a dropped ready task would leave its
    // attempt DISPATCH with nobody to run it); a kill or the shutdown ends the waiting.
    // Made only when a read is needed: a noop vouched for in-process reads nothing, and AbortSignal.any
    // per task was 3.5% of `all`'s CPU in the throughput bench (bun --cpu-prof of engine-hot-path).
    let retryOpts: StoreRetryOptions | null = null;
    const retry = () => (retryOpts ??= { log: this.deps.log, signal: AbortSignal.any([signal, this.pullAbort.signal]) });
    const row = this.deps.vouch?.get(rt) ?? (this.deps.records ? await this.deps.records.get(rt) : undefined) ?? (await retryStore(`reading task instance ${rt.taskInstanceId}`, () => reads.dispatchRow(rt.taskInstanceId), retry()));
    if (!row || row.attempt !== rt.attempt || row.dispatchToken !== rt.token || row.state !== "DISPATCH" || row.workflowInstanceId !== rt.workflowInstanceId) {
      this.dropped++;
      this.deps.metrics?.dispatch("no_matching_row");
      this.ack(rt);
      this.deps.log.debug(`worker: dropped task instance ${rt.taskInstanceId} attempt ${rt.attempt}: no matching DISPATCH row and token`);
      return;
    }
    const ref = { taskInstanceId: row.id, workflowInstanceId: row.workflowInstanceId, slot: rt.slot, epoch: rt.epoch, attempt: row.attempt, token: rt.token };
    if (row.taskType === "noop") {
      // A noop needs no process, work dir, log file, definition or clock: its result is known.
      // runAttempt's mkdir + log open/write/close cost ~40% of the engine's CPU per noop task
      // (bun --cpu-prof of scripts/bench/engine-hot-path.ts throughput, SQLite); its log was two
      // "started"/"ended" lines. It reports no log (logPath null: the API answers an empty log).
      const at = new Date();
      const metrics = this.deps.metrics;
      if (metrics) {
        metrics.dispatch("started");
        metrics.queueWait(rt.workerGroup, at.getTime() - rt.enqueuedAt);
        metrics.ran("noop", "SUCCESS", 0);
      }
      sink.report({ kind: "done", ...ref, state: "SUCCESS", exitCode: null, output: {}, message: null, endTime: at, host: this.host, logPath: null, startTime: at });
      this.ack(rt);
      return;
    }
    const logPath = attemptLogPath(this.deps.dataDir, row);
    const startTime = new Date();
    const info = await retryStore(`reading workflow instance ${row.workflowInstanceId}`, () => reads.instance(row.workflowInstanceId), retry());
    const task = info ? await retryStore(`reading workflow ${info.workflowId} version ${info.version}`, () => reads.task(info.workflowId, info.version, row.taskName), retry()) : null;
    if (!info || !task) {
      this.deps.metrics?.dispatch("unknown_task");
      sink.report({ kind: "done", ...ref, state: "FAILURE", exitCode: null, output: {}, message: `the worker could not find task "${row.taskName}" of its workflow`, endTime: new Date(), host: this.host, logPath: null, startTime });
      this.ack(rt);
      return;
    }
    const claim = this.deps.records ? await this.deps.records.claimStart(rt, this.host) : "started";
    if (claim !== "started") {
      const key = attemptKey(rt.taskInstanceId, rt.attempt, rt.token);
      refuseStart(claim, rt, {
        count: (result) => this.deps.metrics?.dispatch(result),
        forget: () => this.seen.delete(key),
        ack: () => this.ack(rt),
        dropped: () => this.dropped++,
        log: this.deps.log,
      });
      return;
    }
    sink.report({ kind: "running", ...ref, host: this.host, logPath, startTime });
    this.deps.metrics?.dispatch("started");
    this.deps.metrics?.queueWait(rt.workerGroup, startTime.getTime() - rt.enqueuedAt);
    // Acked once RUNNING is on its way: a worker that dies before this leaves the claim to expire
    // and the task to be offered again; after it, the attempt is this worker's (§3.10).
    this.ack(rt);
    const attemptDir = attemptWorkDir(this.deps.dataDir, row, this.deps.workDir);
    // Only processes have an OS identity; http and sql run inside porpoise.
    const identity: TaskIdentity | undefined = (task.type === "shell" || task.type === "python") && this.deps.identity ? await this.deps.identity(info.tenant) : undefined;
    const params = withWorkerBuiltins(row.params, { taskInstanceId: row.id, executePath: attemptDir });
    const shipper = this.deps.shipLogs ? startLogShipping({ store: reads, taskInstanceId: row.id, path: logPath, log: this.deps.log, signal: this.pullAbort.signal }) : null;
    // runAttempt turns task and disk failures into results; anything else it throws is still
    // reported, so the attempt never stays RUNNING with nobody running it.
    const result = await runAttempt({
      task,
      params,
      clock: clockFromParams(params, info.timezone, info.baseTime),
      attemptDir,
      logPath,
      signal,
      datasources: (name) => retryStore(`reading datasource "${name}"`, () => this.datasource(info.projectId, name), { log: this.deps.log, signal }),
      // The master records it (task instance `warning` + an alert event); the worker only reports.
      onWarn: (w) => sink.report({ kind: "warning", ...ref, message: `still running after its ${w.timeoutSeconds}s timeout (timeout strategy WARN); it goes on. Alert policies with task-warn-timeout are notified` }),
      env: this.deps.env,
      ...(identity ? { identity } : {}),
      logMaxBytes: this.deps.logMaxBytes,
      killGraceMs: this.deps.killGraceMs,
      ...(this.deps.egress ? { egress: this.deps.egress } : {}),
    }).catch((err: unknown) => ({ state: "FAILURE" as const, outParams: {}, exitCode: undefined, message: `the worker failed running the attempt: ${err instanceof Error ? err.message : String(err)}` }));
    // runAttempt closed the log: its last bytes reach the Store before the result, so a follower
    // that stops at the attempt's end has them all.
    if (shipper) {
      const shipped = await shipper.finish();
      if (!shipped.complete) this.deps.log.warn(`worker: the log of task instance ${row.id} reached the store only up to byte ${shipped.shippedBytes}`);
    }
    if (signal.aborted && signal.reason instanceof ShutdownKill) {
      forgetProcess(attemptDir);
      this.deps.log.warn(`worker: task instance ${row.id} attempt ${row.attempt} was killed by the shutdown; it runs again as a new attempt after the restart`, { taskInstanceId: row.id, workflowInstanceId: row.workflowInstanceId, attempt: row.attempt });
      return;
    }
    if (signal.aborted && signal.reason instanceof LeaseLapse) {
      forgetProcess(attemptDir);
      sink.report({ kind: "done", ...ref, state: "NEED_FAULT_TOLERANCE", exitCode: null, output: {}, message: signal.reason.message, endTime: new Date() });
      return;
    }
    const done = doneFields(result, signal);
    this.deps.metrics?.ran(task.type, done.state, done.endTime.getTime() - startTime.getTime());
    sink.report({ kind: "done", ...ref, ...done });
  }

  private async runAdopted(found: Adoptable, signal: AbortSignal): Promise<void> {
    const { row, logPath } = found;
    const ref = { taskInstanceId: row.id, workflowInstanceId: row.workflowInstanceId, slot: row.slot, epoch: row.epoch, attempt: row.attempt, token: row.dispatchToken! };
    const startTime = row.startTime ?? new Date();
    if (row.state === "DISPATCH") this.report({ kind: "running", ...ref, host: this.host, logPath, startTime });
    const skip = loggedLineCounts(logPath);
    const log = await openTaskLogAsync(logPath, { maxBytes: this.deps.logMaxBytes });
    const files = attemptFiles(found.attemptDir);
    let result = await adoptScriptProcess(
      { log, signal, killGraceMs: this.deps.killGraceMs ?? DEFAULT_KILL_GRACE_MS },
      { pid: found.supervisor.pid, startTicks: found.supervisor.startTicks, exitFile: files.exit, output: { out: files.out, err: files.err }, skip },
    );
    const info = await this.reads.instance(row.workflowInstanceId);
    const task = info ? await this.reads.task(info.workflowId, info.version, row.taskName) : null;
    if (task) result = checkDeclaredOut(task, result);
    log.write("sys", `attempt ended: ${result.state}${result.message ? ` (${result.message})` : ""}`);
    log.close();
    if (signal.aborted && signal.reason instanceof ShutdownKill) return forgetProcess(found.attemptDir);
    this.report({ kind: "done", ...ref, ...doneFields(result, signal), host: this.host, logPath, startTime });
  }

  /** Ends the claim of a ready task, with the others of this turn (ack-batch.ts). */
  private ack(rt: ReadyTask): void {
    this.acks.add(rt);
  }

  private onKill(msg: KillMessage): void {
    this.running.get(attemptKey(msg.taskInstanceId, msg.attempt, msg.token))?.abort.abort(new Error(msg.reason));
  }

  private async datasource(projectId: number, name: string): Promise<Datasource | null> {
    const c = await this.reads.datasource(projectId, name);
    if (!c) return null;
    // Validated field by field and built with the URL API (core/datasource-fields.ts); a row
    // stored before those rules gets a ValidationError naming the field, which fails the task.
    connectionUrl(name, c);
    // The egress policy checks the host and the connection goes to the checked address, except
    // with sslmode=verify-full: the certificate must match the name, and it is what proves the
    // server is the one named (a rebinding to a metadata or internal address cannot present it).
    const address = await checkedAddress(this.deps.egress ?? defaultEgress, c.host);
    return { type: "postgres", url: connectionUrl(name, c, c.params.sslmode === "verify-full" ? c.host : address) };
  }
}

/** The result part of a "done" event, the same for an attempt run here and one adopted after a restart. */
function doneFields(result: TaskResult, signal: AbortSignal) {
  return {
    state: result.state,
    exitCode: result.exitCode ?? null,
    output: result.outParams,
    // A kill's reason (user, END strategy, stop) says more than the task type's "stopped".
    message: signal.aborted && result.state === "KILL" ? String((signal.reason as Error)?.message ?? signal.reason) : (result.message ?? null),
    endTime: new Date(),
  };
}
