// Applies the egress policy (core/net/egress.ts) where a task connects: resolve the name once,
// check the name and every address, and hand back the address to connect to, so a DNS answer
// that changes between the check and the connection (rebinding) cannot move the task to an
// address that was never checked.

import { lookup } from "node:dns/promises";
import { PorpoiseError } from "../core/errors.ts";
import { parseIp } from "../core/net/cidr.ts";
import { deniedMessage, egressPolicy, type EgressPolicy } from "../core/net/egress.ts";

export class EgressDeniedError extends PorpoiseError {
  constructor(message: string) {
    super("EGRESS_DENIED", 403, message);
  }
}

export interface Egress {
  policy: EgressPolicy;
  /** Name → addresses; the system resolver unless a test passes its own. */
  resolve: (host: string) => Promise<string[]>;
}

export const systemResolve = async (host: string): Promise<string[]> =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** The built-in policy with the system resolver: what a worker uses when nothing is configured. */
export const defaultEgress: Egress = { policy: egressPolicy(), resolve: systemResolve };

/** The address to connect to for `host` (a name or an address); EgressDeniedError when denied. */
export async function checkedAddress(egress: Egress, host: string): Promise<string> {
  const bare = host.replace(/^\[|\]$/g, "");
  // The name first: a denied name is refused without a lookup (metadata names may not resolve here).
  const byName = egress.policy.check(bare, []);
  if (!byName.allowed) throw new EgressDeniedError(deniedMessage(byName));
  const addresses = parseIp(bare) ? [bare] : await egress.resolve(bare);
  if (addresses.length === 0) throw new Error(`${host} does not resolve to any address`);
  const verdict = egress.policy.check(bare, addresses);
  if (!verdict.allowed) throw new EgressDeniedError(deniedMessage(verdict));
  return addresses[0]!;
}
