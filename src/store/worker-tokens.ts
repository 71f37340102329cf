// Worker tokens (migration 0017): what an edge worker presents to the gateway. Minted by an
// administrator, scoped to worker groups (and labels), with an expiry; revoked by setting
// revoked_at. Only the SHA-256 of the token is stored (api/tokens.ts explains why a plain hash).
// Creation and revocation write their audit rows in the same transaction. A worker token is not
// an api token: user routes never look at this table, so it can do nothing there.

import { and, asc, eq, gt, isNull, lt, or } from "drizzle-orm";
import { ConflictError, NotFoundError } from "../core/errors.ts";
import { writeAudit } from "./audit.ts";
import type { Runner } from "./dialect.ts";
import { returned } from "./rows.ts";
import type { Actor } from "./store.ts";

export interface WorkerToken {
  id: number;
  name: string;
  groups: string[];
  labels: Record<string, string>;
  prefix: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

export interface NewWorkerToken {
  name: string;
  groups: readonly string[];
  labels: Readonly<Record<string, string>>;
  tokenHash: string;
  prefix: string;
  expiresAt: Date | null;
}

export interface WorkerTokenRepository {
  create(input: NewWorkerToken, actor: Actor): Promise<WorkerToken>;
  list(): Promise<WorkerToken[]>;
  get(id: number): Promise<WorkerToken | null>;
  /** Revoking twice is not an error; NotFoundError for an unknown id. */
  revoke(id: number, actor: Actor): Promise<WorkerToken>;
  /** The live (not revoked, not expired) token with this hash, or null. */
  authenticate(tokenHash: string, now: Date): Promise<WorkerToken | null>;
}

/** last_used_at is a hint for people, written at most once a minute (as api tokens). */
const LAST_USED_RESOLUTION_MS = 60_000;

/** A selected row has the token's shape; the copy keeps callers off the driver's arrays and objects. */
type Row = WorkerToken;
const toWorkerToken = (r: Row): WorkerToken => ({
  id: r.id,
  name: r.name,
  groups: [...r.groups],
  labels: { ...r.labels },
  prefix: r.prefix,
  createdAt: r.createdAt,
  expiresAt: r.expiresAt,
  revokedAt: r.revokedAt,
  lastUsedAt: r.lastUsedAt,
});

export function createWorkerTokenRepository(run: Runner): WorkerTokenRepository {
  const t = run.t.workerTokens;
  const audit = (token: WorkerToken) => ({ name: token.name, groups: token.groups, prefix: token.prefix });
  return {
    create: (input, actor) =>
      run.write(
        async (tx) => {
          const now = new Date();
          const row = returned(
            await tx
              .insert(t)
              .values({ name: input.name, groups: [...input.groups], labels: { ...input.labels }, tokenHash: input.tokenHash, prefix: input.prefix, createdBy: actor.userId, createdAt: now, expiresAt: input.expiresAt })
              .returning(),
            "worker token",
          );
          const token = toWorkerToken(row);
          await writeAudit(tx, run.t, actor, now, { action: "worker_token.create", objectType: "worker_token", objectId: row.id, details: { ...audit(token), expiresAt: row.expiresAt?.toISOString() ?? null } });
          return token;
        },
        (v) => (v.kind === "unique" ? new ConflictError("a worker token with this hash already exists: generate a new random token") : undefined),
      ),

    list: () => run.read(async (db) => (await db.select().from(t).orderBy(asc(t.id))).map(toWorkerToken)),

    get: (id) => run.read(async (db) => {
      const [row] = await db.select().from(t).where(eq(t.id, id));
      return row ? toWorkerToken(row) : null;
    }),

    revoke: (id, actor) =>
      run.write(async (tx) => {
        const now = new Date();
        const [row] = await tx.update(t).set({ revokedAt: now }).where(and(eq(t.id, id), isNull(t.revokedAt))).returning();
        if (!row) {
          const [already] = await tx.select().from(t).where(eq(t.id, id));
          if (already) return toWorkerToken(already);
          throw new NotFoundError(`worker token ${id} does not exist`);
        }
        const token = toWorkerToken(row);
        await writeAudit(tx, run.t, actor, now, { action: "worker_token.revoke", objectType: "worker_token", objectId: id, details: audit(token) });
        return token;
      }),

    authenticate: async (tokenHash, now) => {
      const row = await run.read(async (db) => {
        const [r] = await db
          .select()
          .from(t)
          .where(and(eq(t.tokenHash, tokenHash), isNull(t.revokedAt), or(isNull(t.expiresAt), gt(t.expiresAt, now))));
        return r ?? null;
      });
      if (!row) return null;
      if (now.getTime() - (row.lastUsedAt?.getTime() ?? 0) >= LAST_USED_RESOLUTION_MS) {
        const stale = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
        await run.write((tx) => tx.update(t).set({ lastUsedAt: now }).where(and(eq(t.id, row.id), or(isNull(t.lastUsedAt), lt(t.lastUsedAt, stale)))));
      }
      return toWorkerToken(row);
    },
  };
}
