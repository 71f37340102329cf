// Statements a transaction's COMMIT goes out with, without waiting for their answers first
// (pg-transaction.ts). Kept apart from it so that a repository can hand a statement over without
// loading postgres.js or drizzle's pg session (a SQLite process never does).

import type { Db } from "./dialect.ts";

const tails = new WeakMap<object, Promise<unknown>[]>();

/**
 * In a Postgres `write` (pg-transaction.ts): `sent`, a statement already sent on `tx`, is awaited
 * together with COMMIT instead of before it; its failure rolls the transaction back and is what
 * the write throws. Anywhere else (SQLite) it returns false and the caller awaits `sent` itself.
 */
export function alsoBeforeCommit(tx: Db, sent: Promise<unknown>): boolean {
  const list = tails.get(tx);
  if (!list) return false;
  // Handled here, thrown by the transaction: no unhandled rejection while COMMIT is on its way.
  sent.catch(() => {});
  list.push(sent);
  return true;
}

/** Starts collecting `tx`'s tail; the list it returns is what COMMIT waits for. */
export function openTail(tx: Db): Promise<unknown>[] {
  const list: Promise<unknown>[] = [];
  tails.set(tx, list);
  return list;
}

export function closeTail(tx: Db): void {
  tails.delete(tx);
}
