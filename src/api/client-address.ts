// Who is calling, for login throttling and logs. The address is the TCP peer the server saw
// (passed in by the serving mode as `env.clientIp`). X-Forwarded-For is read only when that
// peer is one of the configured trusted proxies (--trusted-proxies), and then only its last
// entry: the one the trusted proxy appended. Earlier entries are whatever the client wrote.

import type { Context } from "hono";
import { type Cidr, cidrContains, parseIp } from "../core/net/cidr.ts";

/** What serving modes pass as the second argument of `app.fetch`. */
export interface ServerEnv {
  clientIp?: string | null;
}

/** `unknown` when there is no socket (tests calling app.request without an env). */
export function clientAddress(c: Context, trustedProxies: readonly Cidr[]): string {
  const peer = (c.env as ServerEnv | undefined)?.clientIp ?? null;
  if (peer === null) return "unknown";
  if (trustedProxies.length > 0 && trustedProxies.some((p) => cidrContains(p, peer))) {
    const forwarded = c.req.header("x-forwarded-for");
    const last = forwarded?.split(",").at(-1)?.trim();
    if (last && parseIp(last)) return last;
  }
  return peer;
}
