// Login throttling (issue 9 item 4): per-client and per-user-name backoff, decided before the
// store or argon2 is touched, 429 with Retry-After, and no way for an attacker to keep the real
// user out. The client address comes in as the serving mode passes it (`env.clientIp`).

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { createApp } from "../../../src/api/app.ts";
import { LOGIN_POLICY as REAL_POLICY, type LoginPolicy } from "../../../src/api/login-throttle.ts";
import { silentLogger } from "../../../src/core/log.ts";
import { parseCidr, type Cidr } from "../../../src/core/net/cidr.ts";
import { dialects, rawQuery } from "../../helpers/stores.ts";
import { apiHarness, expectError, type Harness } from "./harness.ts";

function loginApp(h: Harness, trustedProxies: string[] = []) {
  const app = createApp({
    store: h.store,
    log: silentLogger,
    now: () => h.clock.now,
    trustedProxies: trustedProxies.map((p) => parseCidr(p) as Cidr),
    loginPolicy: LOGIN_POLICY,
  });
  return async (username: string, password: string, clientIp: string, headers: Record<string, string> = {}) => {
    const res = await app.request(
      "/api/v1/login",
      { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ username, password }) },
      { clientIp },
    );
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: JSON.parse(text) };
  };
}

function advance(h: Harness, seconds: number) {
  h.clock.now = new Date(h.clock.now.getTime() + seconds * 1000);
}

// Every unthrottled attempt costs an argon2 check (0.1 s idle, seconds on a loaded 2-core
// machine), so the tests use the real policy's shape with smaller free budgets.
setDefaultTimeout(120_000);
const LOGIN_POLICY: LoginPolicy = {
  client: { ...REAL_POLICY.client, free: 4 },
  user: { ...REAL_POLICY.user, free: 2 },
};

test("the production policy: 10 free per client, 5 per user name, backoff capped at 15 and 5 minutes", () => {
  expect(REAL_POLICY).toEqual({
    client: { free: 10, baseMs: 1000, maxMs: 15 * 60_000, forgetMs: 15 * 60_000 },
    user: { free: 5, baseMs: 1000, maxMs: 5 * 60_000, forgetMs: 15 * 60_000 },
  });
});

describe.each(dialects)("login throttling on %s", (dialect) => {
  test("one client: the free failures, then 429 with Retry-After doubling; other clients are not affected", async () => {
    await using h = await apiHarness(dialect);
    await h.call("POST", "/api/v1/users", { body: { name: "alice", password: "alice-password" } });
    const login = loginApp(h);
    const attacker = "203.0.113.7";
    // Different user names each time, so only the client budget is spent.
    for (let i = 0; i <= LOGIN_POLICY.client.free; i++) {
      expectError(await login(`guess${i}`, "wrong-password", attacker), 401, "UNAUTHORIZED");
    }
    const blocked = await login("guess-x", "wrong-password", attacker);
    const err = expectError(blocked, 429, "TOO_MANY_ATTEMPTS", /from this client: wait 1 s/);
    expect(err.message).toContain("ask an administrator");
    expect(blocked.headers.get("retry-after")).toBe("1");
    // Even the right password is not checked while blocked.
    expectError(await login("alice", "alice-password", attacker), 429, "TOO_MANY_ATTEMPTS");
    // A real user elsewhere logs in.
    expect((await login("alice", "alice-password", "198.51.100.1")).status).toBe(200);

    advance(h, 1);
    expectError(await login("guess-y", "wrong-password", attacker), 401, "UNAUTHORIZED");
    const again = await login("guess-z", "wrong-password", attacker);
    expectError(again, 429, "TOO_MANY_ATTEMPTS");
    expect(again.headers.get("retry-after")).toBe("2");

    // Quiet for longer than the forget window: a fresh start.
    advance(h, LOGIN_POLICY.client.forgetMs / 1000 + 5);
    expect((await login("alice", "alice-password", attacker)).status).toBe(200);
  });

  test("a throttled request touches neither the store nor argon2 (it is answered with the users table gone)", async () => {
    await using h = await apiHarness(dialect);
    const login = loginApp(h);
    for (let i = 0; i <= LOGIN_POLICY.client.free; i++) await login(`u${i}`, "wrong-password", "203.0.113.9");
    await rawQuery(h.store.url, "ALTER TABLE users RENAME TO users_gone");
    expectError(await login("u-late", "wrong-password", "203.0.113.9"), 429, "TOO_MANY_ATTEMPTS");
    // A client that is not throttled does reach the store (and fails there).
    expectError(await login("u-late", "wrong-password", "203.0.113.10"), 500, "INTERNAL");
  });

  test("a burst of concurrent guesses gets at most the free attempts plus one through", async () => {
    await using h = await apiHarness(dialect);
    const login = loginApp(h);
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => login(`burst${i}`, "wrong-password", "203.0.113.20")));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBe(LOGIN_POLICY.client.free + 1);
    expect(statuses.filter((s) => s === 429).length).toBe(30 - LOGIN_POLICY.client.free - 1);
  });

  test("one user name from many clients backs off; the real user's own client still gets in, and success clears it", async () => {
    await using h = await apiHarness(dialect);
    await h.call("POST", "/api/v1/users", { body: { name: "alice", password: "alice-password" } });
    const login = loginApp(h);
    const home = "198.51.100.50";
    expect((await login("alice", "alice-password", home)).status).toBe(200);
    for (let i = 0; i <= LOGIN_POLICY.user.free; i++) {
      expectError(await login("alice", "wrong-password", `203.0.113.${100 + i}`), 401, "UNAUTHORIZED");
    }
    const blocked = await login("alice", "wrong-password", "203.0.113.200");
    expectError(blocked, 429, "TOO_MANY_ATTEMPTS", /for this user name/);
    expect(blocked.headers.get("retry-after")).toBe("1");
    // An unknown name is throttled the same way: a 429 does not tell which names exist.
    for (let i = 0; i <= LOGIN_POLICY.user.free; i++) await login("nobody", "wrong-password", `203.0.114.${i}`);
    expectError(await login("nobody", "wrong-password", "203.0.114.200"), 429, "TOO_MANY_ATTEMPTS", /for this user name/);

    // The client alice logged in from before is exempt from her name's backoff.
    expect((await login("alice", "alice-password", home)).status).toBe(200);
    // That success cleared the name's failures: a new client is not blocked.
    expectError(await login("alice", "wrong-password", "203.0.113.201"), 401, "UNAUTHORIZED");
  });

  test("X-Forwarded-For counts only from a trusted proxy, and only its last entry", async () => {
    await using h = await apiHarness(dialect);
    const proxy = "10.1.2.3";
    const viaProxy = loginApp(h, ["10.1.2.0/24"]);
    for (let i = 0; i <= LOGIN_POLICY.client.free; i++) {
      // The first entry is the client's own claim and changes every time; the proxy's entry does not.
      await viaProxy(`p${i}`, "wrong-password", proxy, { "x-forwarded-for": `1.1.1.${i}, 203.0.113.77` });
    }
    expectError(await viaProxy("p-x", "wrong-password", proxy, { "x-forwarded-for": "9.9.9.9, 203.0.113.77" }), 429, "TOO_MANY_ATTEMPTS");
    // Another client behind the same proxy is not throttled.
    expectError(await viaProxy("p-y", "wrong-password", proxy, { "x-forwarded-for": "203.0.113.78" }), 401, "UNAUTHORIZED");

    // An untrusted peer's header is ignored: its own address is throttled whatever it claims.
    const direct = loginApp(h);
    for (let i = 0; i <= LOGIN_POLICY.client.free; i++) {
      await direct(`d${i}`, "wrong-password", "192.0.2.5", { "x-forwarded-for": `5.5.5.${i}` });
    }
    expectError(await direct("d-x", "wrong-password", "192.0.2.5", { "x-forwarded-for": "5.5.5.99" }), 429, "TOO_MANY_ATTEMPTS");
  });
});
