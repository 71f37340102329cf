// Shared bits of the worker tests: a temp dir per file, waiting for a condition, a task
// definition built through the real schema, a process-liveness check.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { taskDefinitionSchema, type TaskDefinition } from "../../../src/core/workflow-schema.ts";

export function tempDir(prefix: string): { path: string } & Disposable {
  const path = mkdtempSync(join(tmpdir(), `porpoise-${prefix}-`));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

/** Polls `check` until it returns a truthy value (returned), or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<Awaited<T>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<Awaited<T>>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

export function taskOf(input: Record<string, unknown>): TaskDefinition {
  return taskDefinitionSchema.parse({ name: "t", ...input });
}

/** A live process: exists and is not a zombie (a killed child re-parented to a non-reaping init stays a zombie). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** The base environment of test tasks: the test runner's PATH, so python3 is found wherever it lives. */
export const testEnv: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
