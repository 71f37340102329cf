// The workload of the cluster failover tests (failover.test.ts, issue 10): N instances of a
// 10-task DAG (two diamonds on a chain) whose shell tasks sleep 50–450 ms — so work is in flight
// when something breaks — then append their effect to the ledger (test/helpers/ledger.ts). Started
// through the api node; the outcome is read straight from the cluster's database.

import { expect } from "bun:test";
import postgres from "postgres";
import { type Cluster, type ClusterOptions, startCluster } from "./cluster-harness.ts";
import { restartablePostgres, type RestartablePostgres } from "../faults/restartable-postgres.ts";
import { createLedger, type Ledger } from "../helpers/ledger.ts";
import { TWO_DIAMONDS } from "../helpers/two-diamonds.ts";
import { waitFor } from "../helpers/wait.ts";

// a → (b, c) → d → e → f → (g, h) → i → j
export const DAG = TWO_DIAMONDS;

/**
 * 50–450 ms, from bash's $RANDOM: 2 × 24 slots keep ~48 attempts in flight at any moment, and a
 * run of 3,000 tasks takes ~20 s of sleeping (0.1–1 s made it ~35 s, most of CI's longest file).
 */
export const SLEEP = "ms=$((50 + RANDOM % 400)); sleep $((ms / 1000)).$(printf %03d $((ms % 1000)))";

/**
 * A cluster on a Postgres server of the test's own (max_connections 200): six nodes with pools of
 * 10 reach ~80 connections under this load, and the shared server (100) refused them ("too many
 * clients") while other suites ran. `pg` is that server: a test may kill and start it.
 */
export async function ownPostgresCluster(prefix: string, o: Omit<ClusterOptions, "prefix" | "dbUrl">): Promise<Cluster & { pg: RestartablePostgres }> {
  const pg = await restartablePostgres();
  try {
    const c = await startCluster({ prefix, dbUrl: pg.url, ...o });
    const disposeCluster = c[Symbol.asyncDispose].bind(c);
    return Object.assign(c, {
      pg,
      async [Symbol.asyncDispose]() {
        await disposeCluster();
        await pg[Symbol.asyncDispose]();
      },
    });
  } catch (err) {
    await pg[Symbol.asyncDispose]();
    throw err;
  }
}

export interface AttemptRow {
  id: number;
  instance: number;
  task: string;
  attempt: number;
  state: string;
  host: string | null;
}

export interface Workload extends AsyncDisposable {
  /** Removed with the workload (its dispose). */
  readonly ledger: Ledger;
  readonly ids: number[];
  readonly total: number;
  /** Raw reads on the cluster's database (instances, attempts, slot leases). */
  readonly sql: postgres.Sql;
  /** Starts `n` more runs through the api. */
  run(n: number): Promise<number[]>;
  /**
   * Waits until every run ended; returns the count per final state. On the deadline it throws
   * with the attempts the unfinished runs wait for and the lines of `logs` that name them.
   */
  ended(timeoutMs: number, logs?: () => string): Promise<Record<string, number>>;
  attempts(): Promise<AttemptRow[]>;
}

export async function startWorkload(c: Cluster, o: { instances: number; work?: string }): Promise<Workload> {
  const ledger = await createLedger();
  try {
    return await workload(c, o, ledger);
  } catch (err) {
    await ledger[Symbol.asyncDispose]();
    throw err;
  }
}

async function workload(c: Cluster, o: { instances: number; work?: string }, ledger: Ledger): Promise<Workload> {
  const definition = { name: "w", tasks: DAG.map(([name, deps]) => ({ name, type: "shell", deps, script: ledger.task(o.work ?? SLEEP) })) };
  expect((await c.request("/projects", { method: "POST", json: { name: "etl" } })).status).toBe(201);
  // JSON is YAML: the script's newlines and quotes need no YAML quoting this way.
  const saved = await c.request("/projects/etl/workflows", { method: "POST", yaml: JSON.stringify(definition) });
  expect(saved.status).toBe(201);
  const sql = postgres(c.dbUrl, { max: 2, onnotice: () => {} });
  const ids: number[] = [];
  const runOne = async () => {
    const res = await c.request("/projects/etl/workflows/w/run", { method: "POST", json: {} });
    if (res.status >= 300) throw new Error(`POST …/run answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { id: number }).id;
  };
  const w: Workload = {
    ledger,
    ids,
    get total() {
      return ids.length * DAG.length;
    },
    sql,
    async run(n) {
      const started: number[] = [];
      // 8 requests at a time: the api node is one process on a shared 2-core box.
      for (let i = 0; i < n; i += 8) started.push(...(await Promise.all(Array.from({ length: Math.min(8, n - i) }, runOne))));
      ids.push(...started);
      return started;
    },
    async ended(timeoutMs, logs) {
      const states = async () => {
        const rows = await sql<{ state: string; n: number }[]>`SELECT state, count(*)::int AS n FROM workflow_instances WHERE id = ANY(${ids}::bigint[]) GROUP BY state`;
        return Object.fromEntries(rows.map((r) => [r.state, r.n])) as Record<string, number>;
      };
      let shown = Date.now();
      const stuck = async () => {
        const rows = await sql<{ id: string; instance: string; task: string; attempt: number; state: string; host: string | null; updated_at: Date }[]>`
          SELECT t.id::text, t.workflow_instance_id::text AS instance, t.task_name AS task, t.attempt, t.state, t.host, t.updated_at FROM task_instances t
          JOIN workflow_instances w ON w.id = t.workflow_instance_id
          WHERE t.workflow_instance_id = ANY(${ids}::bigint[]) AND w.state NOT IN ('SUCCESS', 'FAILURE', 'STOP', 'PAUSE') AND t.state IN ('SUBMITTED_SUCCESS', 'DELAY_EXECUTION', 'DISPATCH', 'RUNNING_EXECUTION')`;
        const text = logs?.() ?? "";
        return rows.map((r) => {
          const lines = text.split("\n").filter((l) => l.includes(`task instance ${r.id} `) || l.includes(`task instance ${r.id}:`)).slice(-6);
          return `  attempt ${r.id} (${r.instance}:${r.task} #${r.attempt}) ${r.state} on ${r.host ?? "-"} since ${r.updated_at.toISOString()}${lines.map((l) => `\n    | ${l.slice(0, 300)}`).join("")}`;
        });
      };
      return waitFor(`all ${ids.length} instances to end`, async () => {
        const s = await states();
        // A line every 15 s: a slow run (the box is shared) is told from a stuck one.
        if (Date.now() - shown > 15_000) {
          shown = Date.now();
          console.log(`  … instances ${JSON.stringify(s)}, ledger ${ledger.count()}/${ids.length * DAG.length}`);
        }
        return ["SUCCESS", "FAILURE", "STOP", "PAUSE"].reduce((n, k) => n + (s[k] ?? 0), 0) === ids.length ? s : null;
      }, timeoutMs, 500).catch(async (err: Error) => {
        throw new Error(`${err.message}; they wait for:\n${(await stuck()).join("\n")}`);
      });
    },
    async attempts() {
      const rows = await sql<{ id: string; instance: string; task: string; attempt: number; state: string; host: string | null }[]>`
        SELECT id::text, workflow_instance_id::text AS instance, task_name AS task, attempt, state, host FROM task_instances
        WHERE workflow_instance_id = ANY(${ids}::bigint[]) ORDER BY id`;
      return rows.map((r) => ({ ...r, id: Number(r.id), instance: Number(r.instance) }));
    },
    async [Symbol.asyncDispose]() {
      await sql.end({ timeout: 5 });
      await ledger[Symbol.asyncDispose]();
    },
  };
  await w.run(o.instances);
  return w;
}

/** (instance, task) pairs with no effect in the ledger: work that was lost. */
export function missingEffects(w: Workload): string[] {
  const seen = new Set(w.ledger.read().rows.map((r) => r.idemKey));
  return w.ids.flatMap((id) => DAG.map(([t]) => `${id}:${t}`)).filter((k) => !seen.has(k));
}

/** Node ids in a process's log lines that match `pattern` (first capture group), counted. */
export function countLines(text: string, pattern: RegExp): number {
  return [...text.matchAll(new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : pattern.flags + "g"))].length;
}

export interface DuplicateKinds {
  /** One attempt (one task-instance row) whose effect landed twice: a ready task executed twice. */
  sameAttempt: string[];
  /** Effects of an attempt that ended NEED_FAULT_TOLERANCE and of its rerun: a worker failover. */
  afterFaultTolerance: string[];
  /** Anything else: two attempts of a task both effective without a failover between them. */
  other: string[];
}

/** Sorts the ledger's duplicates by what caused them, from the attempts in the Store. */
export function duplicateKinds(w: Workload, attempts: readonly AttemptRow[]): DuplicateKinds {
  const byId = new Map(attempts.map((a) => [a.id, a]));
  const rows = w.ledger.read().rows;
  const kinds: DuplicateKinds = { sameAttempt: [], afterFaultTolerance: [], other: [] };
  for (const { idemKey } of w.ledger.read().duplicates) {
    const ids = rows.filter((r) => r.idemKey === idemKey).map((r) => r.taskInstance);
    if (new Set(ids).size < ids.length) kinds.sameAttempt.push(idemKey);
    else if (ids.filter((id) => byId.get(id)?.state !== "NEED_FAULT_TOLERANCE").length <= 1) kinds.afterFaultTolerance.push(idemKey);
    else kinds.other.push(idemKey);
  }
  return kinds;
}
