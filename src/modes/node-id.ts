// A node's name in the cluster registry: --node-id, or the host, the role and 6 random
// characters, new at every start. A fresh id per start is what lets a master tell "this worker
// died" (its id stops heartbeating) from "this worker restarted" (a new id), so the attempts of
// the dead process are rerun and nothing waits for a process that is gone (docs/architecture.md §3.10).

import { readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { NodeRole } from "../coordinator/coordinator.ts";

export function nodeIdFor(config: Pick<Config, "nodeId">, role: NodeRole): string {
  if (config.nodeId !== null) return config.nodeId;
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 60) || "node";
  const random = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("");
  return `${host}-${role}-${random}`;
}

/**
 * An `all` node keeps its id across restarts on the same data dir (`<data-dir>/node-id`): after a
 * kill -9 it recognises the attempts its worker ran, adopts the processes that outlived it and
 * reruns the rest, while other nodes' attempts stay theirs.
 */
export async function persistentNodeId(config: Pick<Config, "nodeId" | "dataDir">, role: NodeRole): Promise<string> {
  if (config.nodeId !== null) return config.nodeId;
  const path = join(config.dataDir, "node-id");
  try {
    const known = (await readFile(path, "utf8")).trim();
    if (/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$/.test(known)) return known;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const id = nodeIdFor(config, role);
  await writeFile(path, `${id}\n`, { mode: 0o600 });
  return id;
}
