// Login throttling: exponential backoff per client address and per user name, decided before
// any argon2 work is done, so a guessing client costs the server a map lookup, not 64 MiB and
// ~50 ms of hashing, and cannot starve real logins.
//
// Policy (README "Security"):
// - per client: 10 failures are free; each further one blocks the client for 1 s, 2 s, 4 s …
//   up to 15 min. 15 min without a failure forgets them. A success from the client takes back
//   its own charge but does not clear the others (one known account must not reset an attack).
// - per user name (whether it exists or not, so a 429 says nothing about existence): 5 failures
//   are free, then 1 s, 2 s … up to 5 min; a successful login clears them. Backoff only, never a
//   lock: a hard lock would let anyone lock out any user. A client that already logged in as the
//   user (in this process) is exempt from that user's backoff, so an attack from elsewhere does
//   not keep the real user out.
// Every attempt is charged before its password is checked: a burst of concurrent requests gets
// at most the free attempts plus one through before the block applies.
//
// In memory, per api process (porpoise all has one). Several api nodes would each allow the
// free attempts; a cluster wanting one budget would keep these counters in Redis (INCR + PEXPIRE
// per key), which the Cache port could carry.

import { PorpoiseError } from "../core/errors.ts";

export interface BackoffPolicy {
  /** Failures allowed before any delay. */
  free: number;
  baseMs: number;
  maxMs: number;
  /** A key with no failure for this long starts over. */
  forgetMs: number;
}

export const LOGIN_POLICY = {
  client: { free: 10, baseMs: 1000, maxMs: 15 * 60_000, forgetMs: 15 * 60_000 },
  user: { free: 5, baseMs: 1000, maxMs: 5 * 60_000, forgetMs: 15 * 60_000 },
} as const satisfies Record<string, BackoffPolicy>;

/** Bounds memory under an attack from many addresses; the oldest entries go first. */
const MAX_ENTRIES = 100_000;

export class TooManyLoginsError extends PorpoiseError {
  readonly retryAfterSeconds: number;
  constructor(what: "client" | "user", retryAfterSeconds: number) {
    const who = what === "client" ? "from this client" : "for this user name";
    super(
      "TOO_MANY_ATTEMPTS",
      429,
      `too many failed logins ${who}: wait ${retryAfterSeconds} s (Retry-After) before trying again; ` +
        "if the password is lost, ask an administrator to set a new one",
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

interface Entry {
  failures: number;
  lastFailureMs: number;
  blockedUntilMs: number;
}

class Backoff {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly policy: BackoffPolicy) {}

  /** Milliseconds the key is still blocked for (0 = free to try). */
  blockedFor(key: string, nowMs: number): number {
    const e = this.live(key, nowMs);
    return e ? Math.max(0, e.blockedUntilMs - nowMs) : 0;
  }

  charge(key: string, nowMs: number): void {
    const e = this.live(key, nowMs) ?? { failures: 0, lastFailureMs: nowMs, blockedUntilMs: 0 };
    e.failures++;
    e.lastFailureMs = nowMs;
    const over = e.failures - this.policy.free;
    if (over > 0) e.blockedUntilMs = nowMs + Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** Math.min(over - 1, 30));
    // Re-insert so Map order is least recently charged first (what eviction drops).
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** Takes back one charge (the attempt succeeded); lifts the block it may have set. */
  refund(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.failures = Math.max(0, e.failures - 1);
    if (e.failures <= this.policy.free) e.blockedUntilMs = 0;
    if (e.failures === 0) this.entries.delete(key);
  }

  clear(key: string): void {
    this.entries.delete(key);
  }

  private live(key: string, nowMs: number): Entry | undefined {
    const e = this.entries.get(key);
    if (e && nowMs - e.lastFailureMs > this.policy.forgetMs && nowMs >= e.blockedUntilMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
}

export interface LoginAttempt {
  /** Call after the password check; only then is the outcome known. */
  settle(ok: boolean): void;
}

export type LoginPolicy = Record<"client" | "user", BackoffPolicy>;

export class LoginThrottle {
  private readonly clients: Backoff;
  private readonly users: Backoff;
  /** `user\0client` pairs that logged in successfully: exempt from the user's backoff. */
  private readonly known = new Set<string>();

  constructor(policy: LoginPolicy = LOGIN_POLICY) {
    this.clients = new Backoff(policy.client);
    this.users = new Backoff(policy.user);
  }

  /** Throws TooManyLoginsError (nothing charged) or charges the attempt and returns it. */
  begin(user: string, client: string, nowMs: number): LoginAttempt {
    const pair = `${user}\0${client}`;
    const exempt = this.known.has(pair);
    const clientWait = this.clients.blockedFor(client, nowMs);
    const userWait = exempt ? 0 : this.users.blockedFor(user, nowMs);
    if (clientWait > 0 || userWait > 0) {
      throw new TooManyLoginsError(clientWait >= userWait ? "client" : "user", Math.ceil(Math.max(clientWait, userWait) / 1000));
    }
    this.clients.charge(client, nowMs);
    if (!exempt) this.users.charge(user, nowMs);
    let settled = false;
    return {
      settle: (ok) => {
        if (settled) return;
        settled = true;
        if (!ok) return;
        this.clients.refund(client);
        this.users.clear(user);
        if (this.known.size >= MAX_ENTRIES) this.known.delete(this.known.values().next().value as string);
        this.known.add(pair);
      },
    };
  }
}
