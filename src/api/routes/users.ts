// User administration; administrators only.

import { z } from "zod";
import { ConflictError, NotFoundError } from "../../core/errors.ts";
import type { Store, User } from "../../store/store.ts";
import { hashPassword, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS } from "../passwords.ts";
import { defineRoute } from "../route.ts";
import { pagingQuery, pathName, userNameSchema } from "../schemas.ts";
import { pageOf, toUser, userView } from "../views.ts";

const password = z
  .string()
  .min(MIN_PASSWORD_CHARS, `expected at least ${MIN_PASSWORD_CHARS} characters`)
  .max(MAX_PASSWORD_CHARS);
const userParams = z.strictObject({ user: pathName("user name") });

async function findUser(store: Store, name: string): Promise<User> {
  const user = await store.users.getByName(name);
  if (!user) throw new NotFoundError(`user "${name}" not found`);
  return user;
}

export const userRoutes = [
  defineRoute({
    method: "POST",
    path: "/api/v1/users",
    operationId: "createUser",
    tag: "users",
    summary: "Create a user",
    auth: "admin",
    body: z.strictObject({ name: userNameSchema, password, isAdmin: z.boolean().default(false) }),
    example: { name: "alice", password: "a long passphrase", isAdmin: false },
    response: userView,
    handler: async ({ body, deps, actor }) => {
      const passwordHash = await hashPassword(body.password);
      return toUser(await deps.store.users.create({ name: body.name, passwordHash, isAdmin: body.isAdmin }, actor));
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/users",
    operationId: "listUsers",
    tag: "users",
    summary: "List users",
    auth: "admin",
    query: pagingQuery,
    response: pageOf(userView),
    handler: async ({ query, deps }) => {
      const page = await deps.store.users.list(query);
      return { items: page.items.map(toUser), total: page.total, ...query };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/users/:user",
    operationId: "getUser",
    tag: "users",
    summary: "Get a user by name",
    auth: "admin",
    params: userParams,
    response: userView,
    handler: async ({ params, deps }) => toUser(await findUser(deps.store, params.user)),
  }),
  defineRoute({
    method: "POST",
    path: "/api/v1/users/:user/disable",
    operationId: "disableUser",
    tag: "users",
    summary: "Disable a user: their tokens stop working and they cannot log in",
    auth: "admin",
    status: 200,
    params: userParams,
    response: userView,
    handler: async ({ params, deps, actor, principal }) => {
      const user = await findUser(deps.store, params.user);
      // Locking oneself out is never what an administrator meant to do.
      if (user.id === principal.user.id) throw new ConflictError("you cannot disable your own user: ask another administrator");
      return toUser(await deps.store.users.setDisabled(user.id, true, actor));
    },
  }),
  defineRoute({
    method: "POST",
    path: "/api/v1/users/:user/enable",
    operationId: "enableUser",
    tag: "users",
    summary: "Enable a disabled user",
    auth: "admin",
    status: 200,
    params: userParams,
    response: userView,
    handler: async ({ params, deps, actor }) => {
      const user = await findUser(deps.store, params.user);
      return toUser(await deps.store.users.setDisabled(user.id, false, actor));
    },
  }),
  defineRoute({
    method: "PUT",
    path: "/api/v1/users/:user/password",
    operationId: "setUserPassword",
    tag: "users",
    summary: "Set (reset) a user's password",
    auth: "admin",
    params: userParams,
    body: z.strictObject({ password }),
    example: { password: "another long passphrase" },
    response: userView,
    handler: async ({ params, body, deps, actor }) => {
      const user = await findUser(deps.store, params.user);
      return toUser(await deps.store.users.setPasswordHash(user.id, await hashPassword(body.password), actor));
    },
  }),
];
