// A path the API serves, asked with a method it does not take: 405 with an Allow header listing
// the ones it does (RFC 9110 §15.5.6), not the 404 a path that does not exist gets (issue 11
// papercut). Built from the route table, so it cannot drift from what is mounted.

import type { Route } from "./route.ts";

export interface MethodTable {
  /** The methods declared for routes matching `path` (GET implies HEAD), sorted; empty when none. */
  allowed(path: string): string[];
}

export function methodTable(routes: readonly Route[]): MethodTable {
  const byPattern = new Map<string, { re: RegExp; methods: Set<string> }>();
  for (const r of routes) {
    let entry = byPattern.get(r.path);
    if (!entry) {
      const source = r.path
        .split("/")
        .map((part) => (part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
        .join("/");
      byPattern.set(r.path, (entry = { re: new RegExp(`^${source}/?$`), methods: new Set() }));
    }
    entry.methods.add(r.method);
    if (r.method === "GET") entry.methods.add("HEAD");
  }
  const entries = [...byPattern.values()];
  return {
    allowed(path) {
      const methods = new Set<string>();
      for (const e of entries) if (e.re.test(path)) for (const m of e.methods) methods.add(m);
      return [...methods].sort();
    },
  };
}
