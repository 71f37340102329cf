import { and, asc, eq, isNull } from "drizzle-orm";
import { ConflictError, NotFoundError } from "../core/errors.ts";
import { writeAudit } from "./audit.ts";
import type { Db, Runner } from "./dialect.ts";
import { returned, toUser } from "./rows.ts";
import { insertToken } from "./tokens.ts";
import type { Actor, User, UserRepository } from "./store.ts";

export function createUserRepository(run: Runner): UserRepository {
  const { t } = run;

  /** One guarded UPDATE plus its audit row; NotFoundError when there is no such user. */
  function updateUser(id: number, patch: { disabled?: boolean; passwordHash?: string }, action: string, actor: Actor): Promise<User> {
    return run.write(async (tx) => {
      const now = new Date();
      const [row] = await tx.update(t.users).set({ ...patch, updatedAt: now }).where(eq(t.users.id, id)).returning();
      if (!row) throw new NotFoundError(`user ${id} does not exist`);
      // A new password ends every login session made with the old one (API tokens stay: they are
      // credentials of their own, revoked one by one).
      const endedSessions =
        patch.passwordHash === undefined
          ? 0
          : (
              await tx
                .update(t.apiTokens)
                .set({ revokedAt: now })
                .where(and(eq(t.apiTokens.userId, id), eq(t.apiTokens.kind, "session"), isNull(t.apiTokens.revokedAt)))
                .returning({ id: t.apiTokens.id })
            ).length;
      const details = patch.passwordHash === undefined ? { name: row.name } : { name: row.name, endedSessions };
      await writeAudit(tx, t, actor, now, { action, objectType: "user", objectId: id, details });
      return toUser(row);
    });
  }

  async function byName(db: Db, name: string) {
    const [row] = await db.select().from(t.users).where(eq(t.users.name, name));
    return row ?? null;
  }

  return {
    create: (input, actor) =>
      run.write(
        async (tx) => {
          const now = new Date();
          const row = returned(
            await tx
              .insert(t.users)
              .values({ name: input.name, passwordHash: input.passwordHash, isAdmin: input.isAdmin, createdAt: now, updatedAt: now })
              .returning(),
            "user",
          );
          await writeAudit(tx, t, actor, now, {
            action: "user.create",
            objectType: "user",
            objectId: row.id,
            details: { name: row.name, isAdmin: row.isAdmin },
          });
          if (input.token) await insertToken(tx, t, actor, now, { ...input.token, userId: row.id });
          return toUser(row);
        },
        // A unique violation is the user name, or (rarely) the token hash: say which.
        (v) =>
          v.kind === "unique"
            ? new ConflictError(
                /token/i.test(v.constraint) ? "a token with this hash already exists: generate a new random token" : `user "${input.name}" already exists`,
              )
            : undefined,
      ),

    getById: (id) =>
      run.read(async (db) => {
        const [row] = await db.select().from(t.users).where(eq(t.users.id, id));
        return row ? toUser(row) : null;
      }),

    getByName: (name) =>
      run.read(async (db) => {
        const row = await byName(db, name);
        return row ? toUser(row) : null;
      }),

    getPasswordHash: (name) =>
      run.read(async (db) => {
        const row = await byName(db, name);
        return row ? { user: toUser(row), passwordHash: row.passwordHash } : null;
      }),

    list: (page) =>
      run.read(async (db) => {
        const rows = await db.select().from(t.users).orderBy(asc(t.users.name)).limit(page.limit).offset(page.offset);
        return { items: rows.map(toUser), total: await db.$count(t.users) };
      }),

    setDisabled: (id, disabled, actor) => updateUser(id, { disabled }, disabled ? "user.disable" : "user.enable", actor),

    setPasswordHash: (id, passwordHash, actor) => updateUser(id, { passwordHash }, "user.set_password", actor),

    any: () => run.read(async (db) => (await db.select({ id: t.users.id }).from(t.users).limit(1)).length > 0),
  };
}
