// The benches that measure the shipped binary (footprint.ts, cluster-footprint.ts, edge.ts) use
// dist/porpoise-linux-x64 only when it is newer than everything it is built from; a binary older
// than the tree measured code that is no longer there (a session's RSS A/B once compared such a
// stale build). A full run builds it when it is missing or stale; a smoke run then measures from
// source, and the row's note says which.

import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { buildExecutable } from "../build.ts";
import { ROOT } from "./porpoise-server.ts";

export const BINARY = join(ROOT, "dist", "porpoise-linux-x64");
/** What the binary is built from: a change to any of these makes it stale. */
const SOURCES = ["src", "migrations", "package.json", "bunfig.toml", "tsconfig.json"];

function newestMtimeMs(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, entry)));
  return newest;
}

/** Whether dist/porpoise-linux-x64 exists and is newer than every file it is built from. */
export function binaryUpToDate(): boolean {
  if (!existsSync(BINARY)) return false;
  const built = statSync(BINARY).mtimeMs;
  return SOURCES.every((s) => newestMtimeMs(join(ROOT, s)) <= built);
}

/**
 * The binary to measure, or null (measure from source): a full run builds it first when it is
 * missing or older than the tree; `who` names the bench in the build line.
 */
export async function binaryToMeasure(full: boolean, who: string): Promise<{ path: string; note: string } | null> {
  if (!binaryUpToDate()) {
    if (!full) return null;
    console.error(`${who}: building ${BINARY} (${existsSync(BINARY) ? "older than the tree" : "missing"})…`);
    await buildExecutable("x64", join(ROOT, "dist"));
  }
  return { path: BINARY, note: `dist binary built ${statSync(BINARY).mtime.toISOString()}` };
}

/** The note of a row measured from source because the binary was missing or stale. */
export function fromSourceNote(): string {
  return existsSync(BINARY) ? "bun src/main.ts (dist/ binary older than the tree)" : "bun src/main.ts (no binary in dist/)";
}
