// Tells "the store is away" (retry later: 503) from "the query failed" (a bug: 500), by the
// driver error at the bottom of the cause chain. The codes are the ones postgres.js and
// bun:sqlite give when the server is down, restarting, refusing connections or the file is
// locked or unreadable; a constraint or syntax error is never among them.

const networkCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  // postgres.js
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/** SQLSTATE: 08 connection exception, 57P0x shutdown / cannot connect now, 53300 too many connections. */
const pgOutage = /^(08...|57P0[1-3]|53300)$/;

/** SQLite: another writer holds the lock, or the file cannot be read or written. */
const sqliteOutage = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|READONLY)/;

/**
 * postgres.js 3.4.9 sending a statement on a connection whose socket is already gone (a statement of
 * a transaction after the server went away): "null is not an object (evaluating 'socket.write')"
 * under Bun, "Cannot read properties of null (reading 'write')" under Node. Nothing was sent.
 */
const socketGone = /'socket\.\w+'|\(reading '(write|destroy|end)'\)/;

export function isStoreOutage(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof TypeError && socketGone.test(e.message)) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string") continue;
    if (networkCodes.has(code) || pgOutage.test(code) || sqliteOutage.test(code)) return true;
  }
  return false;
}
