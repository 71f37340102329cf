// The egress policy of http tasks and sql datasources: which hosts and addresses a task may
// connect to. Pure rules here; src/worker/egress.ts resolves names and applies them.
//
// Denied unless allowed: link-local (169.254.0.0/16, where every cloud's metadata service
// answers, and fe80::/10), the other metadata addresses and names, and the unspecified
// addresses (0.0.0.0 reaches this machine). `--egress-deny` adds rules (e.g. 127.0.0.0/8,::1
// to keep tasks off local services such as Redis); `--egress-allow` wins over every deny rule,
// for the one internal service that must stay reachable.
//
// A name is checked as written and every address it resolves to is checked too: one denied
// address denies the host, so a name with a public and a metadata record cannot get through.

import { type Cidr, cidrContains, parseCidr, parseIp } from "./cidr.ts";

export const BUILT_IN_DENY = [
  "169.254.0.0/16",
  "fe80::/10",
  "fd00:ec2::254", // AWS IMDS over IPv6
  "100.100.100.200", // Alibaba Cloud metadata
  "0.0.0.0/8",
  "::",
  "metadata.google.internal",
  "metadata.goog",
  "metadata",
  "instance-data",
  "instance-data.ec2.internal",
] as const;

interface Rules {
  cidrs: Cidr[];
  /** Exact names, lower case, no trailing dot. */
  names: Set<string>;
  /** `*.example.com` as `.example.com`. */
  suffixes: string[];
}

function compile(items: readonly string[]): Rules {
  const rules: Rules = { cidrs: [], names: new Set(), suffixes: [] };
  for (const raw of items) {
    const item = raw.trim().toLowerCase();
    const cidr = parseCidr(item);
    if (cidr) rules.cidrs.push(cidr);
    else if (item.startsWith("*.")) rules.suffixes.push(item.slice(1).replace(/\.$/, ""));
    else if (item !== "") rules.names.add(item.replace(/\.$/, ""));
  }
  return rules;
}

function nameRule(rules: Rules, host: string): string | null {
  if (rules.names.has(host)) return host;
  const suffix = rules.suffixes.find((s) => host.endsWith(s));
  return suffix === undefined ? null : `*${suffix}`;
}

function addressRule(rules: Rules, address: string): string | null {
  return rules.cidrs.find((c) => cidrContains(c, address))?.text ?? null;
}

export type EgressVerdict = { allowed: true } | { allowed: false; rule: string; builtIn: boolean; what: string };

export interface EgressPolicy {
  /** The host as written in the URL (name or address) and the addresses it resolved to. */
  check(host: string, addresses: readonly string[]): EgressVerdict;
}

export function egressPolicy(opts: { allow?: readonly string[]; deny?: readonly string[] } = {}): EgressPolicy {
  const allow = compile(opts.allow ?? []);
  const builtIn = compile(BUILT_IN_DENY);
  const deny = compile(opts.deny ?? []);
  return {
    check(rawHost, addresses) {
      const host = rawHost.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
      if (nameRule(allow, host) || addressRule(allow, host)) return { allowed: true };
      const isAddress = parseIp(host) !== null;
      for (const [rules, isBuiltIn] of [[builtIn, true], [deny, false]] as const) {
        const byName = isAddress ? null : nameRule(rules, host);
        if (byName) return { allowed: false, rule: byName, builtIn: isBuiltIn, what: host };
        for (const address of isAddress ? [host, ...addresses] : addresses) {
          if (addressRule(allow, address)) continue;
          const rule = addressRule(rules, address);
          if (rule) return { allowed: false, rule, builtIn: isBuiltIn, what: address === host ? host : `${host} (${address})` };
        }
      }
      return { allowed: true };
    },
  };
}

/** The message of a denied connection: what, which rule, and how to allow it. */
export function deniedMessage(v: Extract<EgressVerdict, { allowed: false }>): string {
  const source = v.builtIn ? "the built-in egress deny list (link-local and cloud metadata)" : "--egress-deny";
  return `connecting to ${v.what} is not allowed: it matches ${v.rule} in ${source}; an operator can allow it with --egress-allow`;
}
