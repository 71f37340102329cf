import { and, asc, eq, gt, isNull, lt, or } from "drizzle-orm";
import { ConflictError, NotFoundError } from "../core/errors.ts";
import { writeAudit } from "./audit.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { returned, toToken, toUser } from "./rows.ts";
import type { Actor, NewToken, TokenRepository } from "./store.ts";

/**
 * last_used_at is a hint for people reviewing their tokens, not an exact log: writing it on
 * every request would turn each authenticated read into a write. Once a minute is plenty.
 */
const LAST_USED_RESOLUTION_MS = 60_000;

/** Inserts a token and its audit row inside the caller's transaction (also used by users.create). */
export async function insertToken(tx: Db, t: Tables, actor: Actor, now: Date, input: NewToken & { userId: number }) {
  const row = returned(await tx.insert(t.apiTokens).values({ ...input, createdAt: now }).returning(), "api token");
  await writeAudit(tx, t, actor, now, {
    action: "token.create",
    objectType: "api_token",
    objectId: row.id,
    details: { userId: row.userId, name: row.name, kind: row.kind, prefix: row.prefix, expiresAt: row.expiresAt?.toISOString() ?? null },
  });
  return row;
}

export function createTokenRepository(run: Runner): TokenRepository {
  const { t } = run;
  return {
    create: (input, actor) =>
      run.write(
        async (tx) => {
          const row = await insertToken(tx, t, actor, new Date(), input);
          return toToken(row);
        },
        (v) =>
          v.kind === "foreign_key"
            ? new NotFoundError(`user ${input.userId} does not exist`)
            : v.kind === "unique"
              ? new ConflictError("a token with this hash already exists: generate a new random token")
              : undefined,
      ),

    authenticate: async (tokenHash, now) => {
      const found = await run.read(async (db) => {
        const [row] = await db
          .select({ token: t.apiTokens, user: t.users })
          .from(t.apiTokens)
          .innerJoin(t.users, eq(t.users.id, t.apiTokens.userId))
          .where(
            and(
              eq(t.apiTokens.tokenHash, tokenHash),
              isNull(t.apiTokens.revokedAt),
              or(isNull(t.apiTokens.expiresAt), gt(t.apiTokens.expiresAt, now)),
              eq(t.users.disabled, false),
            ),
          );
        return row ?? null;
      });
      if (!found) return null;
      const lastUsed = found.token.lastUsedAt?.getTime() ?? 0;
      if (now.getTime() - lastUsed >= LAST_USED_RESOLUTION_MS) {
        const stale = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
        await run.write((tx) =>
          tx
            .update(t.apiTokens)
            .set({ lastUsedAt: now })
            .where(and(eq(t.apiTokens.id, found.token.id), or(isNull(t.apiTokens.lastUsedAt), lt(t.apiTokens.lastUsedAt, stale)))),
        );
      }
      return { token: toToken(found.token), user: toUser(found.user) };
    },

    listForUser: (userId) =>
      run.read(async (db) =>
        (await db.select().from(t.apiTokens).where(eq(t.apiTokens.userId, userId)).orderBy(asc(t.apiTokens.id))).map(toToken),
      ),

    revoke: (userId, tokenId, actor) =>
      run.write(async (tx) => {
        const now = new Date();
        const mine = and(eq(t.apiTokens.id, tokenId), eq(t.apiTokens.userId, userId));
        const [row] = await tx
          .update(t.apiTokens)
          .set({ revokedAt: now })
          .where(and(mine, isNull(t.apiTokens.revokedAt)))
          .returning();
        if (!row) {
          // Revoking twice is not an error: the caller wanted it revoked, and it is.
          const [already] = await tx.select().from(t.apiTokens).where(mine);
          if (already) return toToken(already);
          throw new NotFoundError(`user ${userId} has no token ${tokenId}`);
        }
        await writeAudit(tx, t, actor, now, {
          action: "token.revoke",
          objectType: "api_token",
          objectId: row.id,
          details: { userId, name: row.name, kind: row.kind, prefix: row.prefix },
        });
        return toToken(row);
      }),

    exists: (tokenHash) =>
      run.read(async (db) => (await db.$count(t.apiTokens, eq(t.apiTokens.tokenHash, tokenHash))) > 0),
  };
}
