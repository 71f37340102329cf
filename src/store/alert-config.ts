// Alert channels, groups and policies (migration 0015). A channel's secret fields (webhook and
// Slack URLs, signing secrets, the SMTP password, the PagerDuty routing key) are one JSON object
// sealed with the datasource passwords' codec (datasources.ts: AES-256-GCM under the secret key);
// list/get show which fields are set, never their values, and audit rows never name them.

import { and, asc, eq, inArray, isNull, type SQL } from "drizzle-orm";
import { ConflictError, NotFoundError, ValidationError } from "../core/errors.ts";
import { writeAudit } from "./audit.ts";
import { passwordCodec } from "./datasources.ts";
import type { Db, Runner, Tables } from "./dialect.ts";
import { returned } from "./rows.ts";
import type { AlertChannel, AlertChannelForDelivery, AlertGroup, AlertPolicy, AlertRepository } from "./alert-store.ts";

type ChannelRow = Tables["alertChannels"]["$inferSelect"];
type GroupRow = Tables["alertGroups"]["$inferSelect"];
type PolicyRow = Tables["alertPolicies"]["$inferSelect"];

export type AlertConfigRepository = Pick<
  AlertRepository,
  | "createChannel" | "getChannel" | "listChannels" | "updateChannel" | "deleteChannel" | "channelsForDelivery"
  | "createGroup" | "getGroup" | "listGroups" | "updateGroup" | "deleteGroup"
  | "createPolicy" | "getPolicy" | "listPolicies" | "updatePolicy" | "deletePolicy" | "policiesById" | "channelIdsOfGroup" | "workflowName"
>;

export function createAlertConfigRepository(run: Runner, opts: { secretKey?: string | null } = {}): AlertConfigRepository {
  const { t } = run;
  const ch = t.alertChannels;
  const gr = t.alertGroups;
  const po = t.alertPolicies;
  const codec = passwordCodec(opts.secretKey);
  const scope = (projectId: number | null) => (projectId === null ? isNull(ch.projectId) : eq(ch.projectId, projectId));
  const named = (projectId: number | null, name: string) => and(scope(projectId), eq(ch.name, name));
  const where = (projectId: number | null) => (projectId === null ? "among the global channels" : "in this project");
  const missingChannel = (projectId: number | null, name: string) => new NotFoundError(`alert channel "${name}" does not exist ${where(projectId)}`);
  const takenChannel = (name: string) => new ConflictError(`alert channel "${name}" already exists: choose another name or update it`);
  const openSecrets = (row: ChannelRow): Record<string, string> => (row.secrets === null ? {} : (JSON.parse(codec.open(row.secrets)) as Record<string, string>));
  const seal = (secrets: Record<string, string>) => (Object.keys(secrets).length === 0 ? null : codec.seal(JSON.stringify(secrets)));

  const toChannel = (row: ChannelRow, secretsSet: string[]): AlertChannel => ({
    id: row.id,
    projectId: row.projectId,
    name: row.name,
    type: row.type,
    description: row.description,
    settings: row.settings,
    secretsSet: secretsSet.sort(),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  });
  const channelOf = (row: ChannelRow) => toChannel(row, Object.keys(openSecrets(row)));

  // SQLite's UNIQUE lets NULL project ids repeat: a global name is checked here, in the writing transaction (one writer).
  const checkGlobalName = async (tx: Db, projectId: number | null, name: string, except?: number) => {
    if (projectId !== null || run.dialect !== "sqlite") return;
    const [row] = await tx.select({ id: ch.id }).from(ch).where(named(null, name));
    if (row && row.id !== except) throw takenChannel(name);
  };

  /** The ids of the named channels, in order; ValidationError naming each one that is not there. */
  const resolveChannels = async (tx: Db, projectId: number, own: readonly string[], global: readonly string[]): Promise<number[]> => {
    const problems: { path: string; message: string }[] = [];
    const ids: number[] = [];
    for (const [field, names, owner] of [["channels", own, projectId], ["globalChannels", global, null]] as const) {
      if (names.length === 0) continue;
      const rows = await tx.select({ id: ch.id, name: ch.name }).from(ch).where(and(scope(owner), inArray(ch.name, [...names])));
      names.forEach((n, i) => {
        const row = rows.find((r) => r.name === n);
        if (row) ids.push(row.id);
        else problems.push({ path: `${field}.${i}`, message: `alert channel "${n}" does not exist ${where(owner)}` });
      });
    }
    if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join("; "), problems);
    return [...new Set(ids)];
  };

  const toGroup = async (db: Db, row: GroupRow): Promise<AlertGroup> => {
    const rows = row.channelIds.length === 0 ? [] : await db.select().from(ch).where(inArray(ch.id, row.channelIds));
    return {
      id: row.id,
      projectId: row.projectId,
      name: row.name,
      description: row.description,
      channels: row.channelIds.flatMap((id) => {
        const c = rows.find((r) => r.id === id);
        return c ? [{ id: c.id, name: c.name, type: c.type, global: c.projectId === null }] : [];
      }),
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  };
  const groupNamed = (projectId: number, name: string) => and(eq(gr.projectId, projectId), eq(gr.name, name));
  const missingGroup = (name: string) => new NotFoundError(`alert group "${name}" does not exist in this project`);
  const takenGroup = (name: string) => new ConflictError(`alert group "${name}" already exists in this project: choose another name or update it`);

  const toPolicy = (row: PolicyRow): AlertPolicy => ({
    id: row.id,
    projectId: row.projectId,
    workflowId: row.workflowId,
    scheduleId: row.scheduleId,
    groupId: row.groupId,
    events: row.events,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  });
  const policyOf = (projectId: number, id: number): SQL => and(eq(po.projectId, projectId), eq(po.id, id))!;
  const missingPolicy = (id: number) => new NotFoundError(`alert policy ${id} does not exist in this project`);

  return {
    createChannel: (projectId, input, actor) =>
      run.write(
        async (tx) => {
          await checkGlobalName(tx, projectId, input.name);
          const now = new Date();
          const row = returned(
            await tx
              .insert(ch)
              .values({ projectId, name: input.name, type: input.type, description: input.description, settings: input.settings, secrets: seal(input.secrets), createdBy: actor.userId, createdAt: now, updatedAt: now })
              .returning(),
            "alert channel",
          );
          await writeAudit(tx, t, actor, now, { action: "alert-channel.create", objectType: "alert-channel", objectId: row.id, projectId, details: { name: row.name, type: row.type } });
          return toChannel(row, Object.keys(input.secrets));
        },
        (v) => (v.kind === "unique" ? takenChannel(input.name) : v.kind === "foreign_key" ? new NotFoundError(`project ${projectId} does not exist`) : undefined),
      ),

    getChannel: (projectId, name) =>
      run.read(async (db) => {
        const [row] = await db.select().from(ch).where(named(projectId, name));
        return row ? channelOf(row) : null;
      }),

    listChannels: (projectId, page) =>
      run.read(async (db) => {
        const rows = await db.select().from(ch).where(scope(projectId)).orderBy(asc(ch.name)).limit(page.limit).offset(page.offset);
        return { items: rows.map(channelOf), total: await db.$count(ch, scope(projectId)) };
      }),

    updateChannel: (projectId, name, patch, actor) =>
      run.write(
        async (tx) => {
          const [old] = await tx.select().from(ch).where(named(projectId, name));
          if (!old) throw missingChannel(projectId, name);
          if (patch.name !== undefined) await checkGlobalName(tx, projectId, patch.name, old.id);
          let secrets = openSecrets(old);
          if (patch.secrets) {
            secrets = { ...secrets };
            for (const [k, v] of Object.entries(patch.secrets)) {
              if (v === null) delete secrets[k];
              else secrets[k] = v;
            }
          }
          const now = new Date();
          const [row] = await tx
            .update(ch)
            .set({ name: patch.name, description: patch.description, settings: patch.settings, ...(patch.secrets ? { secrets: seal(secrets) } : {}), updatedAt: now })
            .where(eq(ch.id, old.id))
            .returning();
          const changed = Object.keys(patch).filter((k) => patch[k as keyof typeof patch] !== undefined);
          await writeAudit(tx, t, actor, now, { action: "alert-channel.update", objectType: "alert-channel", objectId: old.id, projectId, details: { name: row!.name, changed } });
          return toChannel(row!, Object.keys(secrets));
        },
        (v) => (v.kind === "unique" && patch.name !== undefined ? takenChannel(patch.name) : undefined),
      ),

    deleteChannel: (projectId, name, actor) =>
      run.write(async (tx) => {
        const [row] = await tx.select().from(ch).where(named(projectId, name));
        if (!row) throw missingChannel(projectId, name);
        // channel_ids is a JSON list: the groups that hold it are found here, in the deleting transaction.
        const groups = (await tx.select({ name: gr.name, channelIds: gr.channelIds, projectId: gr.projectId }).from(gr).where(projectId === null ? undefined : eq(gr.projectId, projectId))).filter((g) =>
          g.channelIds.includes(row.id),
        );
        if (groups.length > 0) {
          const named = projectId === null ? `${groups.length} alert group(s)` : `alert group(s) ${groups.map((g) => `"${g.name}"`).join(", ")}`;
          throw new ConflictError(`alert channel "${name}" is used by ${named}: take it out of them first`);
        }
        await tx.delete(ch).where(eq(ch.id, row.id));
        await writeAudit(tx, t, actor, new Date(), { action: "alert-channel.delete", objectType: "alert-channel", objectId: row.id, projectId, details: { name: row.name, type: row.type } });
      }),

    channelsForDelivery: (ids) =>
      run.read(async (db) => {
        if (ids.length === 0) return [];
        const rows = await db.select().from(ch).where(inArray(ch.id, [...ids]));
        return rows.map((row): AlertChannelForDelivery => {
          const secrets = openSecrets(row);
          return { ...toChannel(row, Object.keys(secrets)), secrets };
        });
      }),

    createGroup: (projectId, input, actor) =>
      run.write(
        async (tx) => {
          const channelIds = await resolveChannels(tx, projectId, input.channels, input.globalChannels);
          const now = new Date();
          const row = returned(
            await tx.insert(gr).values({ projectId, name: input.name, description: input.description, channelIds, createdBy: actor.userId, createdAt: now, updatedAt: now }).returning(),
            "alert group",
          );
          await writeAudit(tx, t, actor, now, { action: "alert-group.create", objectType: "alert-group", objectId: row.id, projectId, details: { name: row.name, channelIds } });
          return toGroup(tx, row);
        },
        (v) => (v.kind === "unique" ? takenGroup(input.name) : v.kind === "foreign_key" ? new NotFoundError(`project ${projectId} does not exist`) : undefined),
      ),

    getGroup: (projectId, name) =>
      run.read(async (db) => {
        const [row] = await db.select().from(gr).where(groupNamed(projectId, name));
        return row ? toGroup(db, row) : null;
      }),

    listGroups: (projectId, page) =>
      run.read(async (db) => {
        const rows = await db.select().from(gr).where(eq(gr.projectId, projectId)).orderBy(asc(gr.name)).limit(page.limit).offset(page.offset);
        const items: AlertGroup[] = [];
        for (const row of rows) items.push(await toGroup(db, row));
        return { items, total: await db.$count(gr, eq(gr.projectId, projectId)) };
      }),

    updateGroup: (projectId, name, patch, actor) =>
      run.write(
        async (tx) => {
          const [old] = await tx.select().from(gr).where(groupNamed(projectId, name));
          if (!old) throw missingGroup(name);
          let channelIds: number[] | undefined;
          if (patch.channels !== undefined || patch.globalChannels !== undefined) {
            const current = await toGroup(tx, old);
            channelIds = await resolveChannels(
              tx,
              projectId,
              patch.channels ?? current.channels.filter((c) => !c.global).map((c) => c.name),
              patch.globalChannels ?? current.channels.filter((c) => c.global).map((c) => c.name),
            );
          }
          const now = new Date();
          const [row] = await tx.update(gr).set({ name: patch.name, description: patch.description, channelIds, updatedAt: now }).where(eq(gr.id, old.id)).returning();
          const changed = Object.keys(patch).filter((k) => patch[k as keyof typeof patch] !== undefined);
          await writeAudit(tx, t, actor, now, { action: "alert-group.update", objectType: "alert-group", objectId: old.id, projectId, details: { name: row!.name, changed } });
          return toGroup(tx, row!);
        },
        (v) => (v.kind === "unique" && patch.name !== undefined ? takenGroup(patch.name) : undefined),
      ),

    deleteGroup: (projectId, name, actor) =>
      run.write(
        async (tx) => {
          const [row] = await tx.select().from(gr).where(groupNamed(projectId, name));
          if (!row) throw missingGroup(name);
          const used = await tx.$count(po, eq(po.groupId, row.id));
          if (used > 0) throw new ConflictError(`alert group "${name}" is used by ${used} alert polic${used === 1 ? "y" : "ies"}: delete or change them first`);
          await tx.delete(gr).where(eq(gr.id, row.id));
          await writeAudit(tx, t, actor, new Date(), { action: "alert-group.delete", objectType: "alert-group", objectId: row.id, projectId, details: { name: row.name } });
        },
        (v) => (v.kind === "foreign_key" ? new ConflictError(`alert group "${name}" is used by an alert policy: delete or change it first`) : undefined),
      ),

    createPolicy: (projectId, input, actor) =>
      run.write(
        async (tx) => {
          const now = new Date();
          const row = returned(await tx.insert(po).values({ projectId, ...input, createdBy: actor.userId, createdAt: now, updatedAt: now }).returning(), "alert policy");
          await writeAudit(tx, t, actor, now, { action: "alert-policy.create", objectType: "alert-policy", objectId: row.id, projectId, details: { ...input } });
          return toPolicy(row);
        },
        (v) => (v.kind === "foreign_key" ? new NotFoundError("the workflow, schedule or alert group of the policy no longer exists") : undefined),
      ),

    getPolicy: (projectId, id) =>
      run.read(async (db) => {
        const [row] = await db.select().from(po).where(policyOf(projectId, id));
        return row ? toPolicy(row) : null;
      }),

    listPolicies: (projectId, page) =>
      run.read(async (db) => {
        const rows = await db.select().from(po).where(eq(po.projectId, projectId)).orderBy(asc(po.id)).limit(page.limit).offset(page.offset);
        return { items: rows.map(toPolicy), total: await db.$count(po, eq(po.projectId, projectId)) };
      }),

    updatePolicy: (projectId, id, patch, actor) =>
      run.write(
        async (tx) => {
          const now = new Date();
          const [row] = await tx.update(po).set({ groupId: patch.groupId, events: patch.events, updatedAt: now }).where(policyOf(projectId, id)).returning();
          if (!row) throw missingPolicy(id);
          await writeAudit(tx, t, actor, now, { action: "alert-policy.update", objectType: "alert-policy", objectId: id, projectId, details: { ...patch } });
          return toPolicy(row);
        },
        (v) => (v.kind === "foreign_key" ? new NotFoundError("the alert group no longer exists") : undefined),
      ),

    deletePolicy: (projectId, id, actor) =>
      run.write(async (tx) => {
        const [row] = await tx.delete(po).where(policyOf(projectId, id)).returning();
        if (!row) throw missingPolicy(id);
        await writeAudit(tx, t, actor, new Date(), { action: "alert-policy.delete", objectType: "alert-policy", objectId: id, projectId, details: { groupId: row.groupId, events: row.events } });
      }),

    channelIdsOfGroup: (groupId) =>
      run.read(async (db) => {
        const [row] = await db.select({ channelIds: gr.channelIds }).from(gr).where(eq(gr.id, groupId));
        return row?.channelIds ?? [];
      }),

    workflowName: (workflowId) =>
      run.read(async (db) => {
        const [row] = await db.select({ name: t.workflowDefinitions.name }).from(t.workflowDefinitions).where(eq(t.workflowDefinitions.id, workflowId));
        return row?.name ?? null;
      }),

    policiesById: (ids) =>
      run.read(async (db) => (ids.length === 0 ? [] : (await db.select().from(po).where(inArray(po.id, [...ids]))).map(toPolicy))),
  };
}

