// A ledger of task effects for fault tests (RELIABILITY.md, workload W): each task writes one
// row to a table in a Postgres database of its own when its work is done, so after a fault a
// test can count effects per task (duplicates) and see whether two executions of one task ran
// at the same time (overlaps). The database is fresh per ledger and dropped on dispose.
//
//   await using ledger = await createLedger();
//   const script = ledger.task("sleep 0.5");      // a shell task's script: the work, then the row
//   …run workflows whose tasks use `script`…
//   const { rows, duplicates, overlaps } = await ledger.read();
//
// The idem key is `<workflow instance id>:<task name>` — one effect per task of a run, whatever
// the attempt — from the built-ins `${system.workflow.instance.id}` and
// `${system.task.definition.name}`, which porpoise substitutes into the script before it runs
// (src/core/params/builtins.ts); `task_instance` is `${system.task.instance.id}`, the attempt's
// row (every attempt is a row of its own). The row is written with psql, which the task finds
// on the default task PATH (/usr/bin).

import postgres from "postgres";
import { freshDatabaseUrl } from "./stores.ts";

export interface LedgerRow {
  idemKey: string;
  taskInstance: number;
  pid: number;
  startedAt: Date;
  endedAt: Date;
}

export interface LedgerOverlap {
  idemKey: string;
  a: LedgerRow;
  b: LedgerRow;
  /** How long both ran at once. */
  ms: number;
}

export interface LedgerReport {
  rows: LedgerRow[];
  /** Idem keys with more than one row: effects that happened twice (or more). */
  duplicates: { idemKey: string; count: number }[];
  /** Pairs of rows of one idem key whose [startedAt, endedAt] intersect. */
  overlaps: LedgerOverlap[];
}

export interface Ledger extends AsyncDisposable {
  /** The ledger database (table `ledger`). */
  readonly url: string;
  /**
   * A shell script for a task: notes the start time, runs `work` (shell text; it may use porpoise
   * params), then writes the task's ledger row. The script fails (non-zero) if the row cannot
   * be written, so a lost effect is not mistaken for a success.
   */
  task(work: string): string;
  read(): Promise<LedgerReport>;
}

const TABLE = `CREATE TABLE ledger (
  idem_key text NOT NULL,
  task_instance bigint NOT NULL,
  pid integer NOT NULL,
  started_at timestamptz NOT NULL,
  ended_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`;

export async function createLedger(): Promise<Ledger> {
  const db = await freshDatabaseUrl("postgres");
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(TABLE);
  } catch (err) {
    await sql.end({ timeout: 5 });
    await db[Symbol.asyncDispose]();
    throw err;
  }
  return {
    url: db.url,
    task(work) {
      // The start time comes from the task's clock (the same machine as the database in tests),
      // the end time from the database when the row lands: the effect is the commit.
      const insert =
        "INSERT INTO ledger (idem_key, task_instance, pid, started_at) VALUES " +
        "('${system.workflow.instance.id}:${system.task.definition.name}', ${system.task.instance.id}, $$, '$ledger_started')";
      return [`ledger_started=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)`, work, `psql '${db.url}' -qAtX -v ON_ERROR_STOP=1 -c "${insert}"`].join("\n");
    },
    async read() {
      const raw = await sql<{ idem_key: string; task_instance: string; pid: number; started_at: Date; ended_at: Date }[]>`
        SELECT idem_key, task_instance::text, pid, started_at, ended_at FROM ledger ORDER BY idem_key, started_at`;
      const rows: LedgerRow[] = raw.map((r) => ({ idemKey: r.idem_key, taskInstance: Number(r.task_instance), pid: r.pid, startedAt: r.started_at, endedAt: r.ended_at }));
      const byKey = new Map<string, LedgerRow[]>();
      for (const row of rows) byKey.set(row.idemKey, [...(byKey.get(row.idemKey) ?? []), row]);
      const duplicates: LedgerReport["duplicates"] = [];
      const overlaps: LedgerOverlap[] = [];
      for (const [idemKey, list] of byKey) {
        if (list.length > 1) duplicates.push({ idemKey, count: list.length });
        for (let i = 0; i < list.length; i++)
          for (let j = i + 1; j < list.length; j++) {
            const a = list[i]!;
            const b = list[j]!;
            const ms = Math.min(a.endedAt.getTime(), b.endedAt.getTime()) - Math.max(a.startedAt.getTime(), b.startedAt.getTime());
            if (ms > 0) overlaps.push({ idemKey, a, b, ms });
          }
      }
      return { rows, duplicates, overlaps };
    },
    async [Symbol.asyncDispose]() {
      await sql.end({ timeout: 5 });
      await db[Symbol.asyncDispose]();
    },
  };
}
