// The marker of a master group commit (migration 0008): written in the batch's transaction with
// each op's outcome, read back when a batch is retried after a failure whose outcome is unknown
// (the connection was lost during COMMIT). Takes: the batch id (a UUID the master picks per
// batch), its outcomes. Returns (find): the outcomes the committed batch had, or null when no
// batch with that id committed. A retry racing a COMMIT still running on the server waits on
// the primary key and then fails with a unique violation: the caller reads the marker again.
//
// Outcomes are stored as one number per op: the row id when applied, 0 stale, -1 duplicate.
// Costs one statement per batch (one round trip on Postgres, after the batch's own statements).

import type { Db, RawAccess } from "./dialect.ts";
import type { TaskBatchOutcome } from "./store.ts";

export interface BatchCommitSql {
  record(tx: Db, id: string, outcomes: readonly TaskBatchOutcome[], now: Date): Promise<void>;
  find(id: string): Promise<TaskBatchOutcome[] | null>;
  /** Removes markers written before `before`; run inside a batch transaction now and then. */
  prune(tx: Db, before: Date): Promise<void>;
}

/** Markers are needed only while their batch's outcome is unknown: minutes at most (the retry follows the outage). */
export const BATCH_MARKER_TTL_MS = 10 * 60_000;

const INSERT = "INSERT INTO batch_commits (id, outcomes, created_at) VALUES ";
const encode = (outcomes: readonly TaskBatchOutcome[]) => JSON.stringify(outcomes.map((o) => (o.outcome === "applied" ? o.id : o.outcome === "stale" ? 0 : -1)));
function decode(text: string): TaskBatchOutcome[] {
  return (JSON.parse(text) as number[]).map((n) => (n > 0 ? { outcome: "applied", id: n } : n === 0 ? { outcome: "stale" } : { outcome: "duplicate" }));
}

export function batchCommitSql(raw: RawAccess, read: <T>(fn: () => Promise<T>) => Promise<T>): BatchCommitSql {
  if (raw.dialect === "sqlite") {
    const { statement } = raw;
    return {
      record: async (_tx, id, outcomes, now) => void statement(`${INSERT}(?, ?, ?)`).run(id, encode(outcomes), now.getTime()),
      find: (id) =>
        read(async () => {
          const row = statement("SELECT outcomes FROM batch_commits WHERE id = ?").get(id) as { outcomes: string } | null;
          return row ? decode(row.outcomes) : null;
        }),
      prune: async (_tx, before) => void statement("DELETE FROM batch_commits WHERE created_at < ?").run(before.getTime()),
    };
  }
  const run = (client: ReturnType<typeof raw.clientOf>, text: string, params: unknown[]) =>
    client.unsafe(text, params as never[], { prepare: true }) as unknown as Promise<Record<string, unknown>[]>;
  return {
    record: async (tx, id, outcomes, now) => void (await run(raw.clientOf(tx), `${INSERT}($1, $2, $3)`, [id, encode(outcomes), now.toISOString()])),
    find: async (id) => {
      const [row] = await run(raw.client, "SELECT outcomes FROM batch_commits WHERE id = $1", [id]);
      return row ? decode(String(row.outcomes)) : null;
    },
    prune: async (tx, before) => void (await run(raw.clientOf(tx), "DELETE FROM batch_commits WHERE created_at < $1", [before.toISOString()])),
  };
}
