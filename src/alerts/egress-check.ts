// Where alerts may be sent: the egress policy of http tasks (core/net/egress.ts) applied to a
// channel's host before each delivery. Link-local and cloud-metadata addresses are refused
// unless --egress-allow names them; --egress-deny adds rules. The name is checked as written and
// every address it resolves to.

import { PorpoiseError } from "../core/errors.ts";
import { parseIp } from "../core/net/cidr.ts";
import { lookup } from "node:dns/promises";
import { deniedMessage, egressPolicy, type EgressPolicy } from "../core/net/egress.ts";

export class EgressDeniedError extends PorpoiseError {
  constructor(message: string) {
    super("EGRESS_DENIED", 403, message);
  }
}

export interface AlertEgress {
  policy: EgressPolicy;
  resolve: (host: string) => Promise<string[]>;
}

export async function checkHost(egress: AlertEgress, host: string): Promise<void> {
  const bare = host.replace(/^\[|\]$/g, "");
  const byName = egress.policy.check(bare, []);
  if (!byName.allowed) throw new EgressDeniedError(`alert not sent: ${deniedMessage(byName)}`);
  const addresses = parseIp(bare) ? [bare] : await egress.resolve(bare);
  const verdict = egress.policy.check(bare, addresses);
  if (!verdict.allowed) throw new EgressDeniedError(`alert not sent: ${deniedMessage(verdict)}`);
}

/** The built-in policy with the system resolver. */
export function defaultAlertEgress(rules: { allow?: readonly string[]; deny?: readonly string[] } = {}): AlertEgress {
  return {
    policy: egressPolicy(rules),
    resolve: async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address),
  };
}
