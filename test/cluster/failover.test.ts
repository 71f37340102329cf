// Failover of a real cluster (issue 10, "Tests that must exist"): 3 masters, 2 workers, 1 api as
// processes on a Postgres server and a redis-server of the test's own (cluster-harness.ts), lease
// 2 s. Each test runs instances of a 10-task DAG whose shell tasks sleep 50–450 ms and then append
// their effect to a ledger (failover-workload.ts, test/helpers/ledger.ts), breaks something while
// work is in flight, and checks the outcome in the Store and the ledger. The figures each test
// measures are printed (console.log) for the issue note; tests never assert timings except the
// one the issue states as a guarantee (slots re-owned within 2 × lease).
//
// a. kill -9 of a master → every instance SUCCESS, its slots taken over within 2 × lease (from
//    slot_lease_log on the database clock), no attempt effective twice and no task run again
//    without a failover. Measured (60 instances, load ~20): last slot re-owned 1.9–2.3 s after
//    the kill, 600/600 effects, 0 duplicated.
// b. kill -9 of a worker → its running attempts end NEED_FAULT_TOLERANCE and run again elsewhere
//    as attempt + 1 without using a retry (the tasks have none: a retry would end them FAILURE).
//    Measured: 22 attempts RUNNING on it, all rerun; every run SUCCESS 21 s after the kill.
// c. SIGSTOP of a worker and its task processes (a frozen machine) past the lease, then SIGCONT →
//    its attempts ran again elsewhere meanwhile; its late results are refused by the masters
//    (one "refused a stale … event" line each, Master.staleEvents) — docs/architecture.md §3.4, §3.10.
//    The ledger shows the frozen attempts' effects next to their reruns (18 of 18 in a 4.2 s
//    freeze): a resumed task whose sleep is over writes before the worker's lease watch can stop
//    it. Only an effect keyed by (instance, task) — an idempotent write — prevents that.
// d. copies of ready tasks and task events, and events out of order, written through RedisBus
//    with the cluster secret → no extra attempt, no frozen instance (every attempt beyond the
//    first is a worker failover, none caused by the copies; no attempt effective twice).
//
// A 2 s lease on a box at load 20+ lapses by itself now and then (a worker's heartbeat or a
// master's renewal comes late): workers are failed over without any fault injected. The figures
// count those failovers and the duplicates they cause separately; at load 35 a 300-instance run
// spent most of its time failing over (706 slot takeovers), so PORPOISE_FAILOVER_LEASE and
// PORPOISE_FAILOVER_INSTANCES scale a run to the box.

import { expect, test } from "bun:test";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import type { TaskEvent } from "../../src/core/messages.ts";
import { CLUSTER_SECRET, type ClusterNode } from "./cluster-harness.ts";
import { type AttemptRow, countLines, DAG, duplicateKinds, ownPostgresCluster, missingEffects, startWorkload, type Workload } from "./failover-workload.ts";
import { waitFor } from "../helpers/wait.ts";

// PORPOISE_FAILOVER_LEASE: seconds (default 2, the harness's). On a box at load 20+ a 2 s lease
// lapses now and then by itself (workers are failed over without any fault injected).
const LEASE_S = Number(process.env.PORPOISE_FAILOVER_LEASE ?? 2);
// PORPOISE_FAILOVER_INSTANCES scales a run down on a busy box (the issue asks for 300).
const INSTANCES = Number(process.env.PORPOISE_FAILOVER_INSTANCES ?? 300);
/** Per worker: 2 × 24 tasks in flight, ~20 s of sleeping for the 3,000 tasks of a run. */
const WORKER_SLOTS = 24;
/** How long the runs of a test may take after the fault, by their number (60 took 20–40 s at load ~20). */
const runMs = (instances: number) => 60_000 + instances * 1500;
const RUN_MS = runMs(INSTANCES);
/** Test d's runs: copies of every message multiply the work of each. */
const D_INSTANCES = 100;
const CLUSTER = { masters: 3, workers: 2, lease: LEASE_S, workerSlots: WORKER_SLOTS } as const;
const failoverCluster = (prefix: string) => ownPostgresCluster(prefix, CLUSTER);
const REFUSED = /master: refused a stale (?:running|done) event/;

const logsOf = (nodes: readonly ClusterNode[]) => nodes.map((n) => n.proc.stdout() + n.proc.stderr()).join("\n");

/** Attempts (rows) per state, for the printed figures. */
async function attemptSummary(w: Workload) {
  const rows = await w.attempts();
  const byState: Record<string, number> = {};
  for (const r of rows) byState[r.state] = (byState[r.state] ?? 0) + 1;
  return { rows, byState };
}

/** The process groups of a worker's task processes (each attempt's supervisor is a session leader it spawned). */
async function taskGroupsOf(pid: number): Promise<number[]> {
  const out = await new Response(Bun.spawn(["pgrep", "-P", String(pid)], { stdout: "pipe" }).stdout).text();
  return out.split("\n").filter(Boolean).map(Number);
}

function signalGroups(pgids: readonly number[], sig: NodeJS.Signals): void {
  for (const g of pgids) {
    try {
      process.kill(-g, sig);
    } catch {
      // ended meanwhile
    }
  }
}

test("a. kill -9 of a master mid-run: all SUCCESS, its slots re-owned within 2 × lease, 0 duplicate effects", async () => {
  await using c = await failoverCluster("porpoise-failover-a-");
  await using w = await startWorkload(c, { instances: INSTANCES });
  await waitFor("a fifth of the effects", async () => w.ledger.count() >= w.total / 5, 120_000, 100);
  const victim = c.masters[0]!;
  const held = (await w.sql<{ slot: number }[]>`SELECT slot FROM slot_leases WHERE owner = ${victim.id} AND expires_at > now()`).map((r) => r.slot);
  const killedAt = (await w.sql<{ at: Date }[]>`SELECT clock_timestamp() AS at`)[0]!.at;
  victim.signal("SIGKILL");
  const effectsAtKill = w.ledger.count();

  const retaken = await waitFor(`the ${held.length} slots of ${victim.id} to be taken over`, async () => {
    const rows = await w.sql<{ slot: number; owner: string; at: Date; prev_expires_at: Date }[]>`
      SELECT DISTINCT ON (slot) slot, owner, at, prev_expires_at FROM slot_lease_log
      WHERE prev_owner = ${victim.id} AND kind = 'takeover' AND at >= ${killedAt} ORDER BY slot, at`;
    return rows.length >= held.length ? rows : null;
  }, 30_000, 100);
  const states = await w.ended(RUN_MS, () => logsOf([...c.masters, ...c.workers]));
  const lastRetakenMs = Math.max(...retaken.map((r) => r.at.getTime() - killedAt.getTime()));
  const owners = new Set(retaken.map((r) => r.owner));
  const report = w.ledger.read();
  const { rows, byState } = await attemptSummary(w);
  const dup = duplicateKinds(w, rows);
  const survivors = logsOf(c.masters.slice(1));
  const lapses = countLines(logsOf(c.workers), /worker: cut off for \d+ ms/) + countLines(survivors, /master: worker \S+ is gone/);
  console.log(
    `[failover a] kill -9 of master ${victim.id} (${held.length} of 64 slots) at ${effectsAtKill}/${w.total} effects: ` +
      `last slot re-owned ${lastRetakenMs} ms after the kill (lease ${LEASE_S * 1000} ms; by ${[...owners].join(",")}); ` +
      `instances ${JSON.stringify(states)}; attempts ${JSON.stringify(byState)}; ledger ${report.rows.length}/${w.total} effects, ` +
      `${report.duplicates.length} duplicated (${dup.sameAttempt.length} one attempt twice, ${dup.afterFaultTolerance.length} rerun after a worker's heartbeat lapsed, ${dup.other.length} other), ` +
      `${report.overlaps.length} overlapping; worker lease lapses seen ${lapses} times (a loaded box: lease 2 s); ${countLines(survivors, REFUSED)} stale events refused by the other masters`,
  );
  expect(held.length).toBeGreaterThan(0);
  expect(new Set(retaken.map((r) => r.slot))).toEqual(new Set(held));
  expect(owners.has(victim.id)).toBe(false);
  expect(lastRetakenMs).toBeLessThanOrEqual(2 * LEASE_S * 1000);
  expect(states).toEqual({ SUCCESS: INSTANCES });
  // The master's kill duplicates nothing: no attempt ran twice, no task ran again without a failover.
  // A worker whose heartbeat lapsed past the lease (a box at load 20+) is failed over, and its
  // attempts' effects may land next to their reruns: counted above, a worker's matter (tests b, c).
  expect(dup.sameAttempt).toEqual([]);
  expect(dup.other).toEqual([]);
  expect(missingEffects(w)).toEqual([]);
}, RUN_MS + 120_000);

test("b. kill -9 of a worker mid-task: its attempts rerun elsewhere as attempt + 1, all SUCCESS", async () => {
  await using c = await failoverCluster("porpoise-failover-b-");
  await using w = await startWorkload(c, { instances: INSTANCES });
  const victim = c.workers[0]!;
  await waitFor("a fifth of the effects", async () => w.ledger.count() >= w.total / 5, 120_000, 100);
  const runningOnVictim = (await w.attempts()).filter((a) => a.host === victim.id && a.state === "RUNNING_EXECUTION");
  victim.signal("SIGKILL");
  const effectsAtKill = w.ledger.count();
  const killedAt = Date.now();

  const states = await w.ended(RUN_MS, () => logsOf([...c.masters, ...c.workers]));
  const endedMs = Date.now() - killedAt;
  const { rows, byState } = await attemptSummary(w);
  const lost = rows.filter((r) => r.state === "NEED_FAULT_TOLERANCE");
  const latest = new Map<string, (typeof rows)[number]>();
  for (const r of rows) if ((latest.get(`${r.instance}:${r.task}`)?.attempt ?? 0) < r.attempt) latest.set(`${r.instance}:${r.task}`, r);
  const report = w.ledger.read();
  const killedIds = new Set(runningOnVictim.map((r) => r.id));
  const lapses = countLines(logsOf(c.workers), /worker: cut off for \d+ ms/) + countLines(logsOf(c.masters), /master: worker \S+ is gone/);
  console.log(
    `[failover b] kill -9 of worker ${victim.id} at ${effectsAtKill}/${w.total} effects with ${runningOnVictim.length} attempts RUNNING on it: ` +
      `${lost.length} attempts NEED_FAULT_TOLERANCE, rerun as attempt + 1 (on ${[...new Set(lost.map((l) => latest.get(`${l.instance}:${l.task}`)?.host))].join(",")}); ` +
      `instances ${JSON.stringify(states)} ${(endedMs / 1000).toFixed(1)} s after the kill; attempts ${JSON.stringify(byState)}; ` +
      `ledger ${report.rows.length} effects for ${w.total} tasks, ${report.duplicates.length} duplicated ` +
      `(${report.rows.filter((r) => killedIds.has(r.taskInstance)).length} by the attempts RUNNING on ${victim.id} at the kill), ${report.overlaps.length} overlapping; ` +
      `worker failovers and lease lapses seen ${lapses} times in the logs (the kill, and a 2 s lease on a loaded box)`,
  );
  expect(runningOnVictim.length).toBeGreaterThan(0);
  expect(states).toEqual({ SUCCESS: INSTANCES });
  // Every attempt RUNNING on the dead worker ended NEED_FAULT_TOLERANCE and its task ran again as
  // attempt + 1 — except one that finished and reported its result in the instant between the
  // snapshot above and the kill (seen once in CI): SUCCESS with no later attempt.
  const reportedBeforeKill = runningOnVictim.filter((a) => {
    const row = rows.find((r) => r.id === a.id)!;
    return row.state === "SUCCESS" && !rows.some((r) => r.instance === a.instance && r.task === a.task && r.attempt > a.attempt);
  });
  expect(reportedBeforeKill.length).toBeLessThan(runningOnVictim.length);
  for (const a of runningOnVictim) {
    if (reportedBeforeKill.includes(a)) continue;
    const row = rows.find((r) => r.id === a.id)!;
    expect(row.state).toBe("NEED_FAULT_TOLERANCE");
    const next = rows.find((r) => r.instance === a.instance && r.task === a.task && r.attempt === a.attempt + 1);
    expect(next?.host).not.toBe(victim.id);
    // attempt + 1 itself may have been failed over again (a lease lapse on a loaded box); the task ends SUCCESS.
    expect(rows.some((r) => r.instance === a.instance && r.task === a.task && r.attempt > a.attempt && r.state === "SUCCESS")).toBe(true);
  }
  expect(missingEffects(w)).toEqual([]);
}, RUN_MS + 120_000);

test("c. SIGSTOP of a worker past its lease, then SIGCONT: its attempts ran elsewhere, its late results are refused and counted", async () => {
  await using c = await failoverCluster("porpoise-failover-c-");
  await using w = await startWorkload(c, { instances: INSTANCES });
  const victim = c.workers[0]!;
  await waitFor("a fifth of the effects", async () => w.ledger.count() >= w.total / 5, 120_000, 100);
  // A frozen machine: the worker first (it starts nothing more), then its task processes.
  victim.signal("SIGSTOP");
  const groups = await taskGroupsOf(victim.proc.pid);
  signalGroups(groups, "SIGSTOP");
  // Whatever happens below, the task processes are not left stopped (they would outlive the test):
  // thawed first, so that with their worker gone they end themselves (their leash, attempt-files.ts).
  await using _thaw = { [Symbol.asyncDispose]: async () => { victim.signal("SIGCONT"); signalGroups(groups, "SIGCONT"); } };
  const stoppedAt = Date.now();
  const effectsAtStop = w.ledger.count();
  const frozen = (await w.attempts()).filter((a) => a.host === victim.id && a.state === "RUNNING_EXECUTION");
  // Past the lease, and until the masters have rerun what it held (their sweep runs every lease / 2).
  // An attempt whose result was on its way when the worker froze (published just before SIGSTOP,
  // recorded after the snapshot above) ends SUCCESS or FAILURE instead: not rerun, not late.
  const settled = (rows: AttemptRow[], f: AttemptRow) => rows.some((r) => r.id === f.id && r.state !== "RUNNING_EXECUTION");
  let last: AttemptRow[] = [];
  await waitFor(`the attempts of the frozen ${victim.id} to be rerun`, async () => {
    last = await w.attempts();
    return Date.now() - stoppedAt > 2 * LEASE_S * 1000 && frozen.every((f) => settled(last, f));
  }, 60_000, 200).catch((err) => {
    const stuck = frozen.map((f) => last.find((r) => r.id === f.id)).filter((r) => r?.state === "RUNNING_EXECUTION");
    const lines = logsOf(c.masters).split("\n").filter((l) => /worker|sweep|beacon|outage|store/i.test(l)).slice(-25);
    console.log(`[failover c] still RUNNING on the frozen ${victim.id}: ${JSON.stringify(stuck)}\nmasters' lines about workers:\n${lines.join("\n")}`);
    throw err;
  });
  const reportedBeforeFreeze = frozen.filter((f) => !last.some((r) => r.id === f.id && r.state === "NEED_FAULT_TOLERANCE"));
  expect(reportedBeforeFreeze.length).toBeLessThan(frozen.length);
  const frozenMs = Date.now() - stoppedAt;
  const logBeforeCont = logsOf([victim]).length;
  victim.signal("SIGCONT");
  signalGroups(groups, "SIGCONT");

  const states = await w.ended(RUN_MS, () => logsOf([...c.masters, ...c.workers]));
  // The late results arrive right after SIGCONT; give the masters a moment to read them.
  await Bun.sleep(LEASE_S * 1000);
  const refused = countLines(logsOf(c.masters), REFUSED);
  const cutOff = /worker: cut off for (\d+) ms .*?: stopping (\d+) running attempts/.exec(logsOf([victim]).slice(logBeforeCont));
  const { rows, byState } = await attemptSummary(w);
  const report = w.ledger.read();
  const frozenIds = new Set(frozen.map((f) => f.id));
  const lateEffects = report.rows.filter((r) => frozenIds.has(r.taskInstance));
  console.log(
    `[failover c] SIGSTOP of worker ${victim.id} and its ${groups.length} task process groups for ${frozenMs} ms (lease ${LEASE_S * 1000} ms) at ${effectsAtStop}/${w.total} effects, ` +
      `${frozen.length} attempts RUNNING on it: ${frozen.length - reportedBeforeFreeze.length} NEED_FAULT_TOLERANCE and rerun elsewhere before SIGCONT (${reportedBeforeFreeze.length} had reported just before the freeze); after SIGCONT the worker ` +
      `${cutOff ? `saw it was cut off for ${cutOff[1]} ms and stopped ${cutOff[2]} running attempts` : "did not report a cut-off"}; ` +
      `${refused} stale results refused by the masters; instances ${JSON.stringify(states)}; attempts ${JSON.stringify(byState)}; ` +
      `ledger ${report.rows.length} effects for ${w.total} tasks, ${report.duplicates.length} duplicated, of them ${lateEffects.length} written by the frozen attempts after SIGCONT ` +
      `(a resumed task process runs its next instruction before anyone can stop it), ${report.overlaps.length} overlapping`,
  );
  expect(frozen.length).toBeGreaterThan(0);
  expect(states).toEqual({ SUCCESS: INSTANCES });
  expect(refused).toBeGreaterThan(0);
  expect(cutOff).not.toBeNull();
  for (const f of frozen) {
    if (reportedBeforeFreeze.includes(f)) continue;
    expect(rows.some((r) => r.instance === f.instance && r.task === f.task && r.attempt === f.attempt + 1)).toBe(true);
    expect(rows.some((r) => r.instance === f.instance && r.task === f.task && r.attempt > f.attempt && r.state === "SUCCESS")).toBe(true);
  }
  expect(missingEffects(w)).toEqual([]);
}, RUN_MS + 120_000);

test("d. duplicated and out-of-order deliveries through RedisBus: no extra attempts, no frozen instance", async () => {
  await using c = await failoverCluster("porpoise-failover-d-");
  await using w = await startWorkload(c, { instances: D_INSTANCES });
  const bus = new RedisBus({ url: c.redis.url, secret: CLUSTER_SECRET });
  const sent = { readyCopies: 0, runningCopies: 0, doneCopies: 0, lateRunning: 0 };
  type Row = { id: string; instance: string; task: string; type: string; state: string; attempt: number; token: string; slot: number; epoch: number; host: string | null; log_path: string | null; start_time: Date | null; end_time: Date | null; exit_code: number | null; output: Record<string, string> | null; message: string | null };
  let copying = true;
  const copier = (async () => {
    while (copying) {
      const rows = await w.sql<Row[]>`
        SELECT id::text, workflow_instance_id::text AS instance, task_name AS task, task_type AS type, state, attempt, dispatch_token AS token, slot, epoch, host, log_path,
               start_time, end_time, exit_code, output, message
        FROM task_instances WHERE workflow_instance_id = ANY(${w.ids}::bigint[]) AND state IN ('DISPATCH', 'RUNNING_EXECUTION', 'SUCCESS')
        ORDER BY updated_at DESC LIMIT 60`;
      for (const r of rows) {
        const ref = { taskInstanceId: Number(r.id), workflowInstanceId: Number(r.instance), slot: r.slot, epoch: r.epoch, attempt: r.attempt, token: r.token };
        // Every ready task again (twice while it waits), whatever its state: a redelivery, or a late copy.
        for (let i = 0; i < (r.state === "DISPATCH" ? 2 : 1); i++) {
          await bus.enqueue("default", { ...ref, instancePriority: 2, priority: 2, workerGroup: "default", enqueuedAt: Date.now() });
          sent.readyCopies++;
        }
        const running: TaskEvent = { kind: "running", ...ref, host: r.host ?? "w1", logPath: r.log_path, startTime: r.start_time ?? new Date() };
        if (r.state === "RUNNING_EXECUTION") {
          await bus.publishEvent(r.slot, running);
          sent.runningCopies++;
        } else if (r.state === "SUCCESS") {
          // The result again, then its RUNNING report after it: out of order.
          await bus.publishEvent(r.slot, { kind: "done", ...ref, state: "SUCCESS", exitCode: r.exit_code, output: r.output ?? {}, message: r.message, endTime: r.end_time ?? new Date() });
          await bus.publishEvent(r.slot, running);
          sent.doneCopies++;
          sent.lateRunning++;
        }
      }
      await Bun.sleep(200);
    }
  })();
  let states: Record<string, number>;
  try {
    states = await w.ended(runMs(D_INSTANCES), () => logsOf([...c.masters, ...c.workers]));
  } finally {
    copying = false;
    await copier;
    await bus.close();
  }
  await Bun.sleep(LEASE_S * 1000);
  const { rows, byState } = await attemptSummary(w);
  const extra = rows.filter((r) => r.attempt > 1);
  // A new attempt is either a failover (its previous attempt ended NEED_FAULT_TOLERANCE: a worker's
  // lease lapsed on the loaded box) or one the copies caused; the latter must not exist.
  const byKey = new Map(rows.map((r) => [`${r.instance}:${r.task}:${r.attempt}`, r]));
  const notFailover = extra.filter((r) => byKey.get(`${r.instance}:${r.task}:${r.attempt - 1}`)?.state !== "NEED_FAULT_TOLERANCE");
  const dup = duplicateKinds(w, rows);
  const report = w.ledger.read();
  const refused = countLines(logsOf(c.masters), REFUSED);
  console.log(
    `[failover d] ${w.ids.length} instances with copies written through RedisBus: ${sent.readyCopies} ready tasks, ${sent.runningCopies} RUNNING events, ` +
      `${sent.doneCopies} results and ${sent.lateRunning} RUNNING events after their result; instances ${JSON.stringify(states)}; attempts ${JSON.stringify(byState)} ` +
      `(${extra.length} beyond attempt 1, ${notFailover.length} of them not a worker failover); ${refused} events refused as stale by the masters; ledger ${report.rows.length} effects for ${w.total} tasks, ` +
      `${report.duplicates.length} duplicated (${dup.sameAttempt.length} one attempt twice, ${dup.afterFaultTolerance.length} rerun after a worker's lease lapsed, ${dup.other.length} other), ${report.overlaps.length} overlapping`,
  );
  expect(states).toEqual({ SUCCESS: w.ids.length });
  expect(rows.filter((r) => r.state === "SUCCESS").length).toBe(w.ids.length * DAG.length);
  expect(notFailover).toEqual([]);
  expect(dup.sameAttempt).toEqual([]);
  expect(refused).toBeGreaterThan(0);
  expect(missingEffects(w)).toEqual([]);
}, runMs(D_INSTANCES) + 120_000);
