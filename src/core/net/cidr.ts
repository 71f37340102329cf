// IP addresses and CIDR ranges, for the egress policy and the trusted-proxy list. Pure: parses
// with node:net's isIP and compares addresses as big integers (one code path for v4 and v6).
// An IPv4-mapped IPv6 address (::ffff:169.254.169.254) is compared as the IPv4 address it
// carries, so the mapped spelling cannot slip past a v4 rule.

import { isIP } from "node:net";

export interface Cidr {
  version: 4 | 6;
  /** The network address as a number of 32 or 128 bits. */
  base: bigint;
  prefix: number;
  /** As written, for messages. */
  text: string;
}

function v4ToBig(addr: string): bigint {
  return addr.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function v6ToBig(addr: string): bigint {
  let text = addr.replace(/%.*$/, "");
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hex groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const v = v4ToBig(quad[1]!);
    text = text.slice(0, -quad[1]!.length) + `${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

const MAPPED_V4 = 0xffffn << 32n;

/** The address as (version, number); a v4-mapped v6 address is returned as v4. Null if not an IP. */
export function parseIp(text: string): { version: 4 | 6; value: bigint } | null {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const kind = isIP(bare.replace(/%.*$/, ""));
  if (kind === 4) return { version: 4, value: v4ToBig(bare) };
  if (kind === 6) {
    const value = v6ToBig(bare);
    if (value >> 32n === MAPPED_V4 >> 32n) return { version: 4, value: value & 0xffffffffn };
    return { version: 6, value };
  }
  return null;
}

/** `10.0.0.0/8`, `fe80::/10`, or a single address (a /32 or /128). Null if it is neither. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return null;
  const bits = ip.version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(bits) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  if (prefix > bits) return null;
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return { version: ip.version, base: ip.value & mask, prefix, text };
}

export function cidrContains(cidr: Cidr, address: string): boolean {
  const ip = parseIp(address);
  if (!ip || ip.version !== cidr.version) return false;
  const bits = cidr.version === 4 ? 32 : 128;
  const shift = BigInt(bits - cidr.prefix);
  return ip.value >> shift === cidr.base >> shift;
}
