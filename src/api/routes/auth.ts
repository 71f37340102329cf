// Log in with a password, log out, and ask who you are.

import { z } from "zod";
import { UnauthorizedError } from "../../core/errors.ts";
import { clientAddress } from "../client-address.ts";
import { MAX_PASSWORD_CHARS, verifyPassword } from "../passwords.ts";
import { defineRoute } from "../route.ts";
import { generateToken, hashToken, tokenDisplayPrefix } from "../tokens.ts";
import { createdTokenView, toToken, toUser, tokenView, userView } from "../views.ts";

const WRONG_CREDENTIALS = "wrong user name or password";

export const authRoutes = [
  defineRoute({
    method: "POST",
    path: "/api/v1/login",
    operationId: "login",
    tag: "auth",
    summary: "Log in: user name and password give a session token",
    description:
      "The session token expires after the configured session lifetime (12 h by default). " +
      "An unknown user and a wrong password give the same answer. Failed logins are throttled per client address " +
      "and per user name (exponential backoff, see the README's Security section): a throttled attempt is 429 with Retry-After, " +
      "and its password is not checked.",
    auth: "public",
    status: 200,
    errorStatuses: [429],
    body: z.strictObject({
      username: z.string().min(1).max(200),
      password: z.string().min(1).max(MAX_PASSWORD_CHARS),
    }),
    example: { username: "admin", password: "correct horse battery" },
    response: createdTokenView.extend({ user: userView }),
    handler: async ({ body, deps, c }) => {
      // Throttled before the store or argon2 is touched: a 429 costs a map lookup.
      const attempt = deps.loginThrottle.begin(body.username, clientAddress(c, deps.trustedProxies), deps.now().getTime());
      const found = await deps.store.users.getPasswordHash(body.username);
      const ok = await verifyPassword(body.password, found?.passwordHash ?? null);
      attempt.settle(Boolean(found) && ok);
      if (!found || !ok) throw new UnauthorizedError(WRONG_CREDENTIALS);
      const { user } = found;
      // Only someone who knows the password learns that the account is disabled.
      if (user.disabled) throw new UnauthorizedError(`user "${user.name}" is disabled: ask an administrator to enable it`);
      const token = generateToken();
      const created = await deps.store.tokens.create(
        {
          userId: user.id,
          name: "login",
          kind: "session",
          tokenHash: hashToken(token),
          prefix: tokenDisplayPrefix(token),
          expiresAt: new Date(deps.now().getTime() + deps.sessionTtlMs),
        },
        { userId: user.id, userName: user.name },
      );
      return { ...toToken(created), token, user: toUser(user) };
    },
  }),
  defineRoute({
    method: "POST",
    path: "/api/v1/logout",
    operationId: "logout",
    tag: "auth",
    summary: "Revoke the token this request was made with",
    auth: "user",
    status: 204,
    handler: async ({ deps, principal, actor }) => {
      await deps.store.tokens.revoke(principal.user.id, principal.token.id, actor);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/me",
    operationId: "getMe",
    tag: "auth",
    summary: "The calling user and the token in use",
    auth: "user",
    response: z.object({ user: userView, token: tokenView }),
    handler: ({ principal }) => ({ user: toUser(principal.user), token: toToken(principal.token) }),
  }),
];
