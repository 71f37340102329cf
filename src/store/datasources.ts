// Datasources for the sql task type: per project, unique by name. The password goes in and
// out only through create/update and getConnection (the worker's read); list/get show
// `hasPassword` and the audit rows never mention it. With a secret key from the caller's
// config it is encrypted at rest (AES-256-GCM, a fresh 96-bit IV per write, the key is the
// SHA-256 of the secret); without one it is stored as `plain:<password>`, which a later
// start with a key still reads (and re-encrypts on the next update).

import { and, asc, eq } from "drizzle-orm";
import { ConflictError, NotFoundError, StoreError } from "../core/errors.ts";
import { writeAudit } from "./audit.ts";
import type { Runner, Tables } from "./dialect.ts";
import { returned } from "./rows.ts";
import type { Datasource, DatasourceRepository, NewDatasource } from "./store.ts";

type Row = Tables["datasources"]["$inferSelect"];

export interface PasswordCodec {
  seal(password: string): string;
  open(stored: string): string;
}

export function passwordCodec(secretKey?: string | null): PasswordCodec {
  const key = secretKey ? new Bun.CryptoHasher("sha256").update(secretKey).digest() : null;
  return {
    seal: (password) => {
      if (!key) return `plain:${password}`;
      // node:crypto only when a password is sealed or opened: an idle `porpoise all` never loads it (see src/modes/all.ts).
      const { createCipheriv, randomBytes } = require("node:crypto") as typeof import("node:crypto");
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const body = Buffer.concat([cipher.update(password, "utf8"), cipher.final(), cipher.getAuthTag()]);
      return `aes-gcm:${iv.toString("base64")}:${body.toString("base64")}`;
    },
    open: (stored) => {
      if (stored.startsWith("plain:")) return stored.slice("plain:".length);
      const [scheme, iv, body] = stored.split(":");
      if (scheme !== "aes-gcm" || !iv || !body) throw new StoreError("a datasource password is stored in an unknown format");
      if (!key) throw new StoreError("datasource passwords are encrypted but no secret key is configured: start porpoise with the key they were written with");
      try {
        const bytes = Buffer.from(body, "base64");
        const { createDecipheriv } = require("node:crypto") as typeof import("node:crypto");
        const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64"));
        decipher.setAuthTag(bytes.subarray(bytes.length - 16));
        return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString("utf8");
      } catch (err) {
        throw new StoreError("cannot decrypt a datasource password: the configured secret key is not the one it was written with", err);
      }
    },
  };
}

function toDatasource(row: Row): Datasource {
  return {
    id: row.id,
    projectId: row.projectId,
    name: row.name,
    type: row.type,
    host: row.host,
    port: row.port,
    database: row.database,
    user: row.username,
    hasPassword: row.password !== null,
    params: row.params,
    description: row.description,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** What the audit row may say about a datasource: everything but the password. */
function auditDetails(row: Row, changed?: string[]) {
  return { name: row.name, type: row.type, host: row.host, port: row.port, database: row.database, user: row.username, ...(changed ? { changed } : {}) };
}

export function createDatasourceRepository(run: Runner, opts: { secretKey?: string | null } = {}): DatasourceRepository {
  const { t } = run;
  const ds = t.datasources;
  const codec = passwordCodec(opts.secretKey);
  const named = (projectId: number, name: string) => and(eq(ds.projectId, projectId), eq(ds.name, name));
  const taken = (name: string) => new ConflictError(`datasource "${name}" already exists in this project: choose another name or update it`);
  const missing = (name: string) => new NotFoundError(`datasource "${name}" does not exist in this project`);

  return {
    create: (projectId, input, actor) =>
      run.write(
        async (tx) => {
          const now = new Date();
          const row = returned(
            await tx
              .insert(ds)
              .values({
                projectId,
                name: input.name,
                type: input.type,
                host: input.host,
                port: input.port,
                database: input.database,
                username: input.user,
                password: input.password == null ? null : codec.seal(input.password),
                params: input.params ?? {},
                description: input.description ?? "",
                createdBy: actor.userId,
                createdAt: now,
                updatedAt: now,
              })
              .returning(),
            "datasource",
          );
          await writeAudit(tx, t, actor, now, {
            action: "datasource.create",
            objectType: "datasource",
            objectId: row.id,
            projectId,
            details: auditDetails(row),
          });
          return toDatasource(row);
        },
        (v) =>
          v.kind === "unique" ? taken(input.name) : v.kind === "foreign_key" ? new NotFoundError(`project ${projectId} does not exist`) : undefined,
      ),

    get: (projectId, name) =>
      run.read(async (db) => {
        const [row] = await db.select().from(ds).where(named(projectId, name));
        return row ? toDatasource(row) : null;
      }),

    list: (projectId, page) =>
      run.read(async (db) => {
        const where = eq(ds.projectId, projectId);
        const rows = await db.select().from(ds).where(where).orderBy(asc(ds.name)).limit(page.limit).offset(page.offset);
        return { items: rows.map(toDatasource), total: await db.$count(ds, where) };
      }),

    update: (projectId, name, patch: Partial<NewDatasource>, actor) =>
      run.write(
        async (tx) => {
          const now = new Date();
          const [row] = await tx
            .update(ds)
            .set({
              name: patch.name,
              type: patch.type,
              host: patch.host,
              port: patch.port,
              database: patch.database,
              username: patch.user,
              ...(patch.password !== undefined ? { password: patch.password === null ? null : codec.seal(patch.password) } : {}),
              params: patch.params,
              description: patch.description,
              updatedAt: now,
            })
            .where(named(projectId, name))
            .returning();
          if (!row) throw missing(name);
          const changed = Object.keys(patch).filter((k) => patch[k as keyof NewDatasource] !== undefined);
          await writeAudit(tx, t, actor, now, {
            action: "datasource.update",
            objectType: "datasource",
            objectId: row.id,
            projectId,
            details: auditDetails(row, changed),
          });
          return toDatasource(row);
        },
        (v) => (v.kind === "unique" && patch.name !== undefined ? taken(patch.name) : undefined),
      ),

    delete: (projectId, name, actor) =>
      run.write(async (tx) => {
        const [row] = await tx.delete(ds).where(named(projectId, name)).returning();
        if (!row) throw missing(name);
        await writeAudit(tx, t, actor, new Date(), {
          action: "datasource.delete",
          objectType: "datasource",
          objectId: row.id,
          projectId,
          details: auditDetails(row),
        });
      }),

    getConnection: (projectId, name) =>
      run.read(async (db) => {
        const [row] = await db.select().from(ds).where(named(projectId, name));
        if (!row) return null;
        return {
          type: row.type,
          host: row.host,
          port: row.port,
          database: row.database,
          user: row.username,
          password: row.password === null ? null : codec.open(row.password),
          params: row.params,
        };
      }),
  };
}
