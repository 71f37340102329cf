// Worker tokens for edge workers (issue 13, docs/architecture.md §2 "Edge workers"): administrators mint them
// scoped to worker groups (and optionally labels), with an expiry, and revoke them. The token is
// in the create response only. A worker token opens the edge gateway (/edge/v1/*) and nothing
// else: the user routes authenticate against api tokens only.

import { z } from "zod";
import { nameSchema, workerGroupSchema } from "../../core/workflow-fields.ts";
import type { WorkerToken } from "../../store/store.ts";
import { defineRoute } from "../route.ts";
import { lifetimeSchema, pagingQuery, positiveInt } from "../schemas.ts";
import { generateToken, hashToken, tokenDisplayPrefix } from "../tokens.ts";
import { pageOf } from "../views.ts";

const date = z.string().meta({ format: "date-time" });
const labelKey = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/, { error: "expected a label name: letters, digits, . _ / - (up to 63)" });

export const workerTokenView = z.object({
  id: z.number().int(),
  name: z.string(),
  groups: z.array(z.string()).describe("worker groups whose tasks a worker with this token may run"),
  labels: z.record(z.string(), z.string()).describe("labels of the workers using it (shown on the cluster page)"),
  prefix: z.string().describe("first characters of the token, for recognising it"),
  createdAt: date,
  expiresAt: date.nullable(),
  revokedAt: date.nullable(),
  lastUsedAt: date.nullable(),
});
const createdView = workerTokenView.extend({ token: z.string().describe("the token itself; shown only in this response") });

const iso = (d: Date | null) => (d === null ? null : d.toISOString());
const view = (t: WorkerToken): z.input<typeof workerTokenView> => ({ ...t, createdAt: t.createdAt.toISOString(), expiresAt: iso(t.expiresAt), revokedAt: iso(t.revokedAt), lastUsedAt: iso(t.lastUsedAt) });

export const workerTokenRoutes = [
  defineRoute({
    method: "POST",
    path: "/api/v1/worker-tokens",
    operationId: "createWorkerToken",
    tag: "edge",
    summary: "Mint a worker token for edge workers of some worker groups (shown once; administrators)",
    auth: "admin",
    body: z.strictObject({
      name: nameSchema("a token name"),
      groups: z.array(workerGroupSchema).min(1, { error: "name at least one worker group the token may serve" }).max(100),
      labels: z.record(labelKey, z.string().max(200)).default({}),
      expiresIn: lifetimeSchema.optional().describe("lifetime (90m, 12h, 30d or seconds); never expires when absent"),
    }),
    example: { name: "pi-fleet", groups: ["edge"], labels: { site: "plant-3" }, expiresIn: "90d" },
    status: 201,
    response: createdView,
    handler: async ({ body, deps, actor }) => {
      const token = generateToken();
      const expiresAt = body.expiresIn === undefined ? null : new Date(deps.now().getTime() + body.expiresIn * 1000);
      const created = await deps.store.workerTokens.create(
        { name: body.name, groups: [...new Set(body.groups)], labels: body.labels, tokenHash: hashToken(token), prefix: tokenDisplayPrefix(token), expiresAt },
        actor,
      );
      return { ...view(created), token };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/worker-tokens",
    operationId: "listWorkerTokens",
    tag: "edge",
    summary: "List worker tokens (never the tokens themselves; administrators)",
    auth: "admin",
    query: pagingQuery,
    response: pageOf(workerTokenView),
    handler: async ({ query, deps }) => {
      const all = await deps.store.workerTokens.list();
      return { items: all.slice(query.offset, query.offset + query.limit).map(view), total: all.length, ...query };
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/api/v1/worker-tokens/:id",
    operationId: "revokeWorkerToken",
    tag: "edge",
    summary: "Revoke a worker token: its workers get no more work and their sessions end (administrators)",
    auth: "admin",
    status: 204,
    params: z.strictObject({ id: positiveInt("worker token id") }),
    handler: async ({ params, deps, actor }) => {
      await deps.store.workerTokens.revoke(params.id, actor);
    },
  }),
];
