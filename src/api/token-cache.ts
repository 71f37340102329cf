// Authenticated tokens, remembered for a second. Looking the token up was one Store round trip
// per API request: 0.7 ms p50 of POST …/run on Postgres at load average ~3 (more under load),
// and one of the four queries of every poll of an instance list.
//
// Revocation stays immediate in this process: every non-GET request of the auth, tokens and
// users routes (logout, revoke, disable, password, …) forgets every remembered token when it
// ends, and a lookup that began before such a request ended is not remembered (generation).
// Another process (a second `porpoise api`) sees a revocation within TTL_MS. Expiry is checked
// on every hit; the token's last use is still recorded at the Store's resolution (+ TTL_MS).

import type { ApiToken, Store, User } from "../store/store.ts";

const TTL_MS = 1000;
const MAX_ENTRIES = 1024;

interface Found {
  user: User;
  token: ApiToken;
}
interface Entry {
  found: Found;
  /** deps.now() of the Store lookup (the API's clock, which tests move). */
  checkedAt: number;
  /** performance.now() after which the entry is stale. */
  until: number;
}
interface Cache {
  entries: Map<string, Entry>;
  generation: number;
}

// Per Store: API apps on one Store share it (and its forgetting); apps on other Stores never see it.
const caches = new WeakMap<Store, Cache>();

function cacheOf(store: Store): Cache {
  let cache = caches.get(store);
  if (!cache) caches.set(store, (cache = { entries: new Map(), generation: 0 }));
  return cache;
}

/** `lookup` (the Store) unless the token was found within TTL_MS and has not expired since. */
export async function authenticateCached(store: Store, tokenHash: string, now: Date, lookup: () => Promise<Found | null>): Promise<Found | null> {
  const cache = cacheOf(store);
  const at = now.getTime();
  const hit = cache.entries.get(tokenHash);
  if (hit) {
    const expiresAt = hit.found.token.expiresAt?.getTime() ?? Infinity;
    if (performance.now() < hit.until && at >= hit.checkedAt && at - hit.checkedAt < TTL_MS && expiresAt > at) return hit.found;
    cache.entries.delete(tokenHash);
  }
  const generation = cache.generation;
  const found = await lookup();
  if (found && cache.generation === generation) {
    if (cache.entries.size >= MAX_ENTRIES) cache.entries.delete(cache.entries.keys().next().value!);
    cache.entries.set(tokenHash, { found, checkedAt: at, until: performance.now() + TTL_MS });
  }
  return found;
}

/** After a request that may have revoked a token or changed a user: nothing remembered is used again. */
export function forgetTokens(store: Store): void {
  const cache = caches.get(store);
  if (!cache) return;
  cache.entries.clear();
  cache.generation++;
}

/** Route tags whose writes can revoke a token or change a user. */
export const FORGETTING_TAGS: ReadonlySet<string> = new Set(["auth", "tokens", "users"]);
