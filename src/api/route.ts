// Every HTTP route is declared once, as data: method, path, auth, the project
// role it needs, and zod schemas for its input and output. `mountRoute` turns a
// declaration into a hono handler that authenticates, authorizes, validates and
// serialises in a fixed order; `buildOpenApi` (openapi.ts) documents the same
// declarations, so the doc cannot drift from what is enforced.
//
// Order of checks: authenticate → admin / project role → params, query, body →
// handler → response schema. Authorization comes before input validation so a
// non-member learns nothing about a project, not even from a 400, and nobody
// makes the server read a 10 MiB body for a route they may not call.

import type { Context, Hono } from "hono";
import { z } from "zod";
import { ForbiddenError, UnauthorizedError } from "../core/errors.ts";
import { parseOrThrow } from "../core/zod-details.ts";
import type { Actor, ApiToken, ProjectRole, User } from "../store/store.ts";
import { ownedObjectAccess, projectAccess, type OwnedKind, type OwnedObject, type ProjectAccess } from "./access.ts";
import { bodyFormat, decodeBody, readBodyText } from "./body.ts";
import type { ApiDeps } from "./deps.ts";
import { FORGETTING_TAGS, authenticateCached, forgetTokens } from "./token-cache.ts";
import { bearerToken, hashToken } from "./tokens.ts";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
/** `public`: no token; `user`: any live token; `admin`: a token of an administrator. */
export type AuthRequirement = "public" | "user" | "admin";

export interface Principal {
  user: User;
  token: ApiToken;
}

type Empty = z.ZodObject<{}>;

/** A route addressing a workflow or task instance by `:id`: the object's project decides who may call it. */
export interface OwnerSpec {
  kind: OwnedKind;
  role: ProjectRole;
  /**
   * A workflow instance may be read from the masters' snapshot in the Cache when it is running
   * (cache/instance-snapshots.ts): read routes whose answer may be a commit behind the Store.
   */
  snapshot?: boolean;
}

/** A route that may answer with a stream instead of JSON (the handler then returns a Response). */
export interface StreamSpec {
  contentType: string;
  description: string;
}

export interface RouteContext<P, Q, B, A extends AuthRequirement, R extends ProjectRole | undefined, O extends OwnerSpec | undefined = undefined> {
  params: P;
  query: Q;
  body: B;
  c: Context;
  deps: ApiDeps;
  principal: A extends "public" ? null : Principal;
  /** Who the audit log records for writes made by this request. */
  actor: A extends "public" ? null : Actor;
  /** The project named by `:project` and the caller's effective role in it. */
  access: R extends ProjectRole ? ProjectAccess : null;
  /** The instance (and task instance) named by `:id`, with its project and the caller's role there. */
  owned: O extends OwnerSpec ? OwnedObject : null;
}

export interface RouteSpec<
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType,
  Res extends z.ZodType,
  A extends AuthRequirement,
  R extends ProjectRole | undefined,
  PB,
  O extends OwnerSpec | undefined = undefined,
> {
  method: HttpMethod;
  /** hono syntax (`/api/v1/projects/:project`); every `:name` must be a key of `params`. */
  path: string;
  /**
   * The OpenAPI operationId: a verb and a noun in camelCase that an SDK generator turns into a
   * method name (`createWorkflow`, `runWorkflow`, `listWorkflowInstances`); unique in the API.
   */
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  auth: A;
  /** Needs `:project` in the path. Non-members get 404, members below this role 403. */
  projectRole?: R;
  /** Needs `:id` in the path. Non-members of the object's project get 404, members below the role 403. */
  owner?: O;
  /** With `stream`, the handler may return a Response (e.g. Server-Sent Events) instead of a JSON value. */
  stream?: StreamSpec;
  params?: P;
  query?: Q;
  /** Documents the body and, unless `parseBody` is given, validates it. */
  body?: B;
  /** Validation that needs more than the schema (the path's name, the DAG checks); throws ValidationError. */
  parseBody?: (raw: unknown, params: z.output<P>) => PB;
  /** Also accept `application/yaml` / `text/yaml` bodies. */
  yaml?: boolean;
  /** Request headers the route reads, for the doc. */
  headers?: { name: string; description: string }[];
  /** A valid body, shown in the doc (and used by tests that call every route). */
  example?: unknown;
  status?: 200 | 201 | 204;
  response?: Res;
  /** Error statuses beyond those implied by auth, role and input, for the doc. */
  errorStatuses?: number[];
  handler: (ctx: RouteContext<z.output<P>, z.output<Q>, PB, A, R, O>) => Promise<z.input<Res> | Response> | z.input<Res> | Response;
}

/** A declared route with its types erased, as kept in the registry. */
export interface Route {
  method: HttpMethod;
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  auth: AuthRequirement;
  projectRole?: ProjectRole;
  owner?: OwnerSpec;
  stream?: StreamSpec;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  yaml: boolean;
  headers: { name: string; description: string }[];
  example?: unknown;
  status: 200 | 201 | 204;
  response?: z.ZodType;
  errorStatuses: number[];
  run(c: Context, deps: ApiDeps): Promise<Response>;
}

export function defineRoute<
  A extends AuthRequirement,
  P extends z.ZodType = Empty,
  Q extends z.ZodType = Empty,
  B extends z.ZodType = z.ZodUndefined,
  Res extends z.ZodType = z.ZodVoid,
  R extends ProjectRole | undefined = undefined,
  PB = z.output<B>,
  O extends OwnerSpec | undefined = undefined,
>(spec: RouteSpec<P, Q, B, Res, A, R, PB, O>): Route {
  const status = spec.status ?? (spec.method === "POST" ? 201 : 200);
  checkDeclaration(spec, status);
  const params: z.ZodType = spec.params ?? z.strictObject({});
  const query: z.ZodType = spec.query ?? z.strictObject({});
  const handle = async (c: Context, deps: ApiDeps): Promise<Response> => {
    const principal = spec.auth === "public" ? null : await authenticate(c, deps);
    if (spec.auth === "admin" && !principal!.user.isAdmin) {
      throw new ForbiddenError(`${spec.method} ${spec.path} is for administrators only`);
    }
    const access = spec.projectRole
      ? await projectAccess(deps.store, principal!.user, c.req.param("project") ?? "", spec.projectRole)
      : null;
    const p = parseOrThrow(params, c.req.param(), "path") as z.output<P>;
    // After the path (an id that is not a number says nothing about anyone's objects), before the rest.
    const owned = spec.owner
      ? await ownedObjectAccess(deps.store, principal!.user, spec.owner.kind, (p as { id: number }).id, spec.owner.role, spec.owner.snapshot ? deps.instanceSnapshots : null)
      : null;
    const q = parseOrThrow(query, flattenQuery(c.req.queries()), "query string");
    let body: unknown = undefined;
    if (spec.body) {
      const format = bodyFormat(c.req.header("content-type"), spec.yaml ?? false);
      const raw = decodeBody(await readBodyText(c.req.raw, deps.maxBodyBytes), format);
      body = spec.parseBody ? spec.parseBody(raw, p) : parseOrThrow(spec.body, raw, "request body");
    }
    const actor = principal ? { userId: principal.user.id, userName: principal.user.name } : null;
    const ctx = { params: p, query: q, body, c, deps, principal, actor, access, owned };
    const result = await spec.handler(ctx as RouteContext<z.output<P>, z.output<Q>, PB, A, R, O>);
    if (result instanceof Response) {
      if (!spec.stream) throw new Error(`${spec.method} ${spec.path} returned a Response but declares no stream`);
      return result;
    }
    if (status === 204 || !spec.response) return c.body(null, 204);
    // Parsing the output drops any field the schema does not list, so a new
    // column in the store (a hash, a secret) can never leak by accident.
    const out = spec.response.safeParse(result);
    if (!out.success) {
      throw new Error(`response of ${spec.method} ${spec.path} does not match its schema: ${z.prettifyError(out.error)}`);
    }
    return c.json(out.data as object, status);
  };
  return {
    method: spec.method,
    path: spec.path,
    operationId: spec.operationId,
    summary: spec.summary,
    description: spec.description,
    tag: spec.tag,
    auth: spec.auth,
    projectRole: spec.projectRole,
    owner: spec.owner,
    stream: spec.stream,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    yaml: spec.yaml ?? false,
    headers: spec.headers ?? [],
    example: spec.example,
    status,
    response: spec.response,
    errorStatuses: spec.errorStatuses ?? [],
    async run(c, deps) {
      if (spec.method === "GET" || !FORGETTING_TAGS.has(spec.tag)) return handle(c, deps);
      try {
        return await handle(c, deps);
      } finally {
        forgetTokens(deps.store);
      }
    },
  };
}

export function mountRoute(app: Hono, route: Route, deps: ApiDeps): void {
  app.on(route.method, route.path, (c) => route.run(c, deps));
}

function checkDeclaration(
  spec: { method: string; path: string; operationId: string; auth: AuthRequirement; projectRole?: unknown; owner?: OwnerSpec; params?: z.ZodType; response?: z.ZodType; body?: z.ZodType },
  status: number,
): void {
  const where = `${spec.method} ${spec.path}`;
  const names = [...spec.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]!);
  const shape = spec.params instanceof z.ZodObject ? Object.keys(spec.params.shape) : [];
  if (names.join() !== shape.join()) throw new Error(`${where}: params schema keys [${shape}] must be the path's [${names}]`);
  if (spec.projectRole && !names.includes("project")) throw new Error(`${where}: projectRole needs :project in the path`);
  if (spec.owner && (!names.includes("id") || spec.projectRole || spec.auth === "public")) throw new Error(`${where}: owner needs :id in the path, a token, and no projectRole`);
  if (spec.owner?.snapshot && (spec.owner.kind !== "workflow-instance" || spec.method !== "GET")) throw new Error(`${where}: only GET routes of a workflow instance read snapshots`);
  if ((status === 204) !== (spec.response === undefined)) throw new Error(`${where}: a response schema is needed unless status is 204`);
  if (!/^[a-z][A-Za-z0-9]*$/.test(spec.operationId)) throw new Error(`${where}: operationId ${JSON.stringify(spec.operationId)} must be camelCase, e.g. createWorkflow`);
}

async function authenticate(c: Context, deps: ApiDeps): Promise<Principal> {
  const token = bearerToken(c.req.header("authorization"));
  const hash = hashToken(token);
  const found = await authenticateCached(deps.store, hash, deps.now(), () => deps.store.tokens.authenticate(hash, deps.now()));
  if (!found) {
    throw new UnauthorizedError(
      "token is unknown, expired or revoked, or its user is disabled: log in again (POST /api/v1/login) or use another token",
    );
  }
  return found;
}

function flattenQuery(all: Record<string, string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(all)) out[k] = v.length === 1 ? v[0]! : v;
  return out;
}
