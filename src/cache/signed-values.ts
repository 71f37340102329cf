// How the Redis Cache stores a value when it has a secret (docs/architecture.md §3.8: Redis is
// untrusted). Whoever can write to Redis must not be able to make a reader see a value that this
// cluster did not write, so each stored string carries an HMAC-SHA256, keyed by the secret, of
// the full Redis key and the value. A record whose MAC does not verify reads as absent.
//
// Layout (the MAC is 43 base64url characters, so no separators are needed inside a record):
//   plain value:  "v" MAC value                      MAC over ("v", key, value)
//   integer:      "c" MAC int  ("|" MAC NONCE DELTA)*  base MAC over ("c", key, int),
//                                                      each delta MAC over ("+", key, NONCE DELTA)
// Lua cannot compute an HMAC (and must not hold the secret), so `incr` cannot re-sign a sum on
// the server. Instead it appends a delta record signed by the caller (one APPEND, atomic), and
// readers verify every record and add them up; a caller that sees too many records folds them
// back into one base record with a compare-and-set (redis-cache.ts). The 11-character NONCE
// makes each delta record unique, so one copied within the value is caught as a replay.
//
// What a MAC does not give: freshness. An old value of the same key, replayed by someone with
// write access to Redis, verifies. The Cache only holds state that the Store can rebuild and
// every dispatch is checked against the Store (§3.4), so a stale value costs a retry at worst.

import { randomBytes } from "node:crypto";

const MAC_LEN = 43;
const NONCE_LEN = 11;
const INTEGER = /^-?\d+$/;

export function isIntegerText(value: string): boolean {
  return INTEGER.test(value);
}

export interface Decoded {
  /** What a caller sees: the value, the sum for an integer, or null when absent or forged. */
  value: string | null;
  /** Records whose MAC did not verify (or repeated a delta): counted by the cache. */
  forged: number;
  /** Records the stored string holds (1 for a plain value); a cue to fold deltas. */
  records: number;
}

/** An integer's stored string as verified so far: a longer string that extends it costs only its new records. */
interface Tally {
  stored: string;
  sum: bigint;
  forged: number;
  records: number;
  nonces: Set<string>;
}

const tallied = (t: Tally): Decoded => ({ value: t.sum.toString(), forged: t.forged, records: t.records });

/**
 * Integers remembered per signer (least recently decoded dropped first). Concurrent incr calls
 * on one key get back ever longer strings; without the memo each one verified every record
 * again. 1,000 decrements of one key sent at once, on the shared 2-core box: unsigned 0.25-0.35 s;
 * signed 4.0 s before the memo, 1.4-2.8 s with it. What is left is moving the growing string
 * (O(n^2) bytes for n increments in flight at once, Redis → client); a burst that large on one
 * key is the worst case, and the fold keeps a key that is incremented over time short.
 */
const RECENT_KEYS = 256;

export class ValueSigner {
  private readonly recent = new Map<string, Tally>();

  constructor(private readonly secret: string) {}

  private mac(tag: string, key: string, body: string): string {
    // The key's length goes first, so (key, body) splits in exactly one way.
    // HMAC-SHA256 by Bun's keyed CryptoHasher: node:crypto's createHmac bytes, a third of its cost (bus/signing.ts).
    return new Bun.CryptoHasher("sha256", this.secret).update(`${tag}${key.length}:${key}${body}`).digest("base64url");
  }

  /** The stored form of `value` for `key`; integer text is stored so that incr can extend it. */
  encode(key: string, value: string): string {
    const tag = isIntegerText(value) ? "c" : "v";
    return tag + this.mac(tag, key, value) + value;
  }

  /** A delta record for incr, ready to APPEND to an integer's stored form. */
  delta(key: string, by: number): string {
    const body = randomBytes(8).toString("base64url") + String(by);
    return "|" + this.mac("+", key, body) + body;
  }

  decode(key: string, stored: string | null): Decoded {
    if (stored === null) return { value: null, forged: 0, records: 0 };
    const tag = stored[0];
    if (tag === "v") {
      const value = stored.slice(1 + MAC_LEN);
      const ok = stored.length > MAC_LEN && this.mac("v", key, value) === stored.slice(1, 1 + MAC_LEN);
      return ok ? { value, forged: 0, records: 1 } : { value: null, forged: 1, records: 1 };
    }
    if (tag !== "c") return { value: null, forged: 1, records: 1 };
    let tally = this.recent.get(key);
    let rest: string;
    if (tally && tally.stored === stored) return tallied(tally);
    if (tally && stored.startsWith(tally.stored) && stored[tally.stored.length] === "|") {
      rest = stored.slice(tally.stored.length + 1);
    } else {
      const cut = stored.indexOf("|");
      const base = cut < 0 ? stored : stored.slice(0, cut);
      rest = cut < 0 ? "" : stored.slice(cut + 1);
      const baseValue = base.slice(1 + MAC_LEN);
      if (!isIntegerText(baseValue) || this.mac("c", key, baseValue) !== base.slice(1, 1 + MAC_LEN)) {
        this.recent.delete(key);
        return { value: null, forged: 1, records: 1 + (rest === "" ? 0 : rest.split("|").length) };
      }
      tally = { stored: base, sum: BigInt(baseValue), forged: 0, records: 1, nonces: new Set() };
    }
    for (const record of rest === "" ? [] : rest.split("|")) {
      tally.records++;
      const body = record.slice(MAC_LEN);
      const nonce = body.slice(0, NONCE_LEN);
      const by = body.slice(NONCE_LEN);
      if (!isIntegerText(by) || tally.nonces.has(nonce) || this.mac("+", key, body) !== record.slice(0, MAC_LEN)) {
        tally.forged++;
        continue;
      }
      tally.nonces.add(nonce);
      tally.sum += BigInt(by);
    }
    tally.stored = stored;
    this.recent.delete(key);
    this.recent.set(key, tally);
    if (this.recent.size > RECENT_KEYS) this.recent.delete(this.recent.keys().next().value!);
    return tallied(tally);
  }
}
