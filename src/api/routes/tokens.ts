// The caller's own API tokens. The token itself is in the create response
// only; listings show its prefix.

import { z } from "zod";
import { nameSchema } from "../../core/workflow-fields.ts";
import { defineRoute } from "../route.ts";
import { lifetimeSchema, pagingQuery, positiveInt } from "../schemas.ts";
import { generateToken, hashToken, tokenDisplayPrefix } from "../tokens.ts";
import { createdTokenView, pageOf, toToken, tokenView } from "../views.ts";

export const tokenRoutes = [
  defineRoute({
    method: "POST",
    path: "/api/v1/tokens",
    operationId: "createToken",
    tag: "tokens",
    summary: "Create an API token for yourself (shown once)",
    auth: "user",
    body: z.strictObject({
      name: nameSchema("a token name"),
      expiresIn: lifetimeSchema.optional().describe("lifetime (90m, 12h, 30d or seconds); never expires when absent"),
    }),
    example: { name: "ci", expiresIn: "30d" },
    response: createdTokenView,
    handler: async ({ body, deps, principal, actor }) => {
      const token = generateToken();
      const expiresAt = body.expiresIn === undefined ? null : new Date(deps.now().getTime() + body.expiresIn * 1000);
      const created = await deps.store.tokens.create(
        {
          userId: principal.user.id,
          name: body.name,
          kind: "api",
          tokenHash: hashToken(token),
          prefix: tokenDisplayPrefix(token),
          expiresAt,
        },
        actor,
      );
      return { ...toToken(created), token };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/tokens",
    operationId: "listTokens",
    tag: "tokens",
    summary: "List your tokens (never the tokens themselves)",
    auth: "user",
    query: pagingQuery,
    response: pageOf(tokenView),
    handler: async ({ query, deps, principal }) => {
      const all = await deps.store.tokens.listForUser(principal.user.id);
      const items = all.slice(query.offset, query.offset + query.limit).map(toToken);
      return { items, total: all.length, ...query };
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/api/v1/tokens/:id",
    operationId: "revokeToken",
    tag: "tokens",
    summary: "Revoke one of your tokens",
    auth: "user",
    status: 204,
    params: z.strictObject({ id: positiveInt("token id") }),
    handler: async ({ params, deps, principal, actor }) => {
      await deps.store.tokens.revoke(principal.user.id, params.id, actor);
    },
  }),
];
