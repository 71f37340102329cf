// The master's group commit on Postgres without round trips of its own for BEGIN and COMMIT
// (docs/architecture.md §3.7).
//
// drizzle's postgres-js transaction is postgres.js `sql.begin`, which waits for BEGIN's answer
// before it runs the body and for the body before it sends COMMIT: a group commit of one chain
// edge was BEGIN | fence + insert + update | marker | COMMIT, four round trips of ~0.5–1 ms each
// on a busy 2-core machine. Here the transaction runs on a pool of ONE connection kept for it
// (postgres.js lets plain BEGIN/COMMIT through only when max is 1), so BEGIN goes out with the
// body's first statements (postgres.js pipelines what is sent on one connection and the server
// runs it in order), and what the body hands to `alsoBeforeCommit` goes out together with COMMIT
// (commit-tail.ts). The group commit is then two round trips. Transactions on it run one at a
// time (a mutex), so no statement of another can fall into one.
//
// postgres.js `reserve()` would do without the extra connection, but in 3.4.9 a reserved and
// released connection keeps `end()` waiting (porsager/postgres#925), a first reserve with
// fetch_types off can wait forever (#751) and a queued one is stranded by a lost connection (#1195).
//
// What postgres.js `begin` did that this must do too:
// - a statement that failed aborts the transaction even when the body caught its error: COMMIT
//   of an aborted transaction answers "ROLLBACK" without an error, so then the first statement
//   error of the transaction is thrown here;
// - the body failing sends ROLLBACK; a lost connection does not (the server already ended the
//   transaction, and writing on a dead postgres.js connection can throw from a setImmediate);
// - a connection whose ROLLBACK failed is not used again: its pool is ended, which makes
//   pg-pool.ts open a new one;
// - a connection lost mid-transaction fails every later statement of it. postgres.js reconnects
//   a closed connection for the next statement without a word, so a statement sent after the
//   close would run, and COMMIT answer, on a new session outside any transaction: the body's
//   later writes kept although its first ones were rolled back (seen once in CI). The pool
//   counts closes (pg-pool.ts); a change since BEGIN refuses the statement as CONNECTION_CLOSED.

import { PostgresJsSession, PostgresJsTransaction } from "drizzle-orm/postgres-js";
import type { Sql } from "postgres";
import { closeTail, openTail } from "./commit-tail.ts";
import type { Db } from "./dialect.ts";
import { createMutex } from "./mutex.ts";
import type { PgPool } from "./pg-pool.ts";

/**
 * Error codes of a connection that is gone, its transaction with it: postgres.js's own, the
 * socket's, and the server's FATAL ones (57P01 terminated by an administrator, 57P02 crash, 08xxx).
 * postgres.js 3.4.9 may hand such a FATAL to the first statement of the NEXT transaction on that
 * connection object after it reconnected, although that statement ran: a write reported failed
 * after a lost connection may have committed (the group commit's batch marker, migration 0008,
 * tells on its retry).
 */
const LOST = /^(CONNECTION_|ECONNRESET|EPIPE|ECONNREFUSED|ETIMEDOUT|57P0[12]$|08...$)/;
const connectionLost = (err: unknown) => LOST.test(String((err as { code?: unknown })?.code ?? ""));

/** What of a drizzle postgres-js database a session needs (its dialect and options). */
interface SessionParts {
  dialect: ConstructorParameters<typeof PostgresJsSession>[1];
  options: ConstructorParameters<typeof PostgresJsSession>[3];
}

function sessionOf(db: Db): SessionParts {
  const session = (db as unknown as { session?: Partial<SessionParts> }).session;
  if (!session?.dialect) throw new Error("drizzle database without a session dialect: drizzle-orm changed; update pg-transaction.ts");
  return { dialect: session.dialect, options: session.options };
}

/**
 * Transactions, one at a time, on `single` (a pool of max 1 connection used for nothing else).
 * `drizzleOn` gives the drizzle database of a pool: making it is what sets drizzle's value
 * (de)serializers on the pool (jsonb and timestamps pass through as text), and the sessions take
 * its dialect and options.
 */
export function pipelinedWriter(single: PgPool, drizzleOn: (sql: Sql) => Db): <T>(fn: (tx: Db) => Promise<T>) => Promise<T> {
  const mutex = createMutex();
  return (fn) =>
    mutex.run(() => {
      const sql = single.sql;
      const closes = single.closes;
      return transact(sql, sessionOf(drizzleOn(sql)), () => single.closes !== closes, fn);
    });
}

/** The error of a statement refused because the transaction's connection closed after BEGIN. */
function closedError(): Error {
  return Object.assign(new Error("the transaction's connection closed: its statements are not sent on another session"), {
    code: "CONNECTION_CLOSED",
  });
}

/**
 * A postgres.js query already failed with `err`: a promise with the query's chaining methods that
 * callers use (`values`, `execute`, `raw`), each the same rejection.
 */
function refusedQuery(err: Error): ReturnType<Sql["unsafe"]> {
  const q = Promise.reject(err) as Promise<never> & Record<"values" | "execute" | "raw", () => unknown>;
  q.catch(() => {});
  q.values = q.execute = q.raw = () => q;
  return q as unknown as ReturnType<Sql["unsafe"]>;
}

async function transact<T>(conn: Sql, { dialect, options }: SessionParts, closed: () => boolean, fn: (tx: Db) => Promise<T>): Promise<T> {
  // What drizzle and the hand-written statements (attempt-sql.ts …) send through: `unsafe` of the
  // connection, noting the first statement that failed (a body may have caught its error). It
  // has no `savepoint`: nested transactions are not used. A statement after the connection closed
  // is refused, not sent (see above).
  let failed: unknown;
  const client = Object.create(conn) as Sql;
  client.unsafe = ((...args: Parameters<Sql["unsafe"]>) => {
    if (closed()) {
      const refused = closedError();
      failed ??= refused;
      return refusedQuery(refused);
    }
    const q = conn.unsafe(...args);
    q.catch((e: unknown) => void (failed ??= e));
    return q;
  }) as Sql["unsafe"];
  const session = new PostgresJsSession(client, dialect, undefined, options);
  const tx = new PostgresJsTransaction(dialect, session as never, undefined) as unknown as Db;
  const tail = openTail(tx);
  const begin = conn.unsafe("begin").execute();
  begin.catch(() => {});
  try {
    const result = await fn(tx);
    if (closed()) throw failed ?? closedError();
    const commit = conn.unsafe("commit").execute();
    commit.catch(() => {});
    await begin;
    await Promise.all(tail);
    const answer = (await commit).command;
    if (answer !== "COMMIT") throw failed ?? new Error(`the transaction was rolled back: COMMIT answered ${answer}`);
    return result;
  } catch (err) {
    if (!connectionLost(err)) {
      await conn.unsafe("rollback").catch((e: unknown) => {
        // In an unknown state: never again (pg-pool.ts replaces a pool whose connection closed).
        if (!connectionLost(e)) void conn.end({ timeout: 0 }).catch(() => {});
      });
    }
    throw err;
  } finally {
    closeTail(tx);
  }
}
