// The workload the cluster fault tests share (test/cluster/outage-*.test.ts, forged.test.ts):
// instances of a small diamond DAG (a → (b, c) → d) whose shell tasks sleep, then write their
// ledger line (test/helpers/ledger.ts), submitted through the api node; and the checks every
// fault test ends with — all SUCCESS, one effect per task, no two executions of a task at once.

import { expect } from "bun:test";
import type { Ledger, LedgerReport } from "../helpers/ledger.ts";
import { waitFor } from "../helpers/wait.ts";
import type { Cluster } from "./cluster-harness.ts";

export const DIAMOND: [string, string[]][] = [
  ["a", []],
  ["b", ["a"]],
  ["c", ["a"]],
  ["d", ["b", "c"]],
];

const ENDED = ["SUCCESS", "FAILURE", "STOP", "PAUSE", "KILL"];

/** Project "etl" (created once) and workflow `name` of DIAMOND tasks running `work` then writing the ledger. */
export async function defineLedgerWorkflow(c: Cluster, ledger: Ledger, name: string, work: string): Promise<void> {
  const project = await c.request("/projects", { method: "POST", json: { name: "etl" } });
  expect([201, 409]).toContain(project.status);
  // JSON is YAML: the ledger script's quotes and newlines survive as they are.
  const def = { name, tasks: DIAMOND.map(([task, deps]) => ({ name: task, type: "shell", deps, script: ledger.task(work) })) };
  const res = await c.request("/projects/etl/workflows", { method: "POST", yaml: JSON.stringify(def) });
  if (res.status !== 201) throw new Error(`creating workflow ${name}: ${res.status} ${await res.text()}`);
}

/** Starts `n` runs of `name` through the api node, 10 requests at a time; the ids in submission order. */
export async function submitRuns(c: Cluster, name: string, n: number): Promise<number[]> {
  const ids: number[] = new Array(n);
  let next = 0;
  const one = async () => {
    for (let i = next++; i < n; i = next++) {
      const res = await c.request(`/projects/etl/workflows/${name}/run`, { method: "POST", json: {} });
      if (res.status >= 300) throw new Error(`run ${i} of ${name}: ${res.status} ${await res.text()}`);
      ids[i] = ((await res.json()) as { id: number }).id;
    }
  };
  await Promise.all(Array.from({ length: Math.min(10, n) }, one));
  return ids;
}

/** The state of each instance, read from the Store (null while the Store does not answer). */
export async function instanceStates(c: Cluster, ids: readonly number[]): Promise<string[] | null> {
  try {
    return (await Promise.all(ids.map((id) => c.store.instances.get(id)))).map((i) => i?.state ?? "MISSING");
  } catch {
    return null;
  }
}

/** Waits until every instance has ended; the final states. */
export async function waitAllEnded(c: Cluster, ids: readonly number[], timeoutMs: number): Promise<string[]> {
  return await waitFor(
    `all ${ids.length} instances to end`,
    async () => {
      const states = await instanceStates(c, ids);
      return states && states.every((s) => ENDED.includes(s)) ? states : null;
    },
    timeoutMs,
    250,
  ).catch(async (err) => {
    const states = (await instanceStates(c, ids)) ?? [];
    const counts: Record<string, number> = {};
    for (const s of states) counts[s] = (counts[s] ?? 0) + 1;
    throw new Error(`${(err as Error).message}; states now ${JSON.stringify(counts)}`);
  });
}

/** Attempts per state over the given instances. */
export async function attemptCounts(c: Cluster, ids: readonly number[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const id of ids) for (const t of await c.store.taskInstances.listForInstance(id)) counts[t.state] = (counts[t.state] ?? 0) + 1;
  return counts;
}

/** The end checks of a fault test: every instance SUCCESS, one ledger row per task, none twice, no overlap. */
export function expectCleanRun(ids: readonly number[], states: readonly string[], report: LedgerReport): void {
  expect(states.filter((s) => s !== "SUCCESS")).toEqual([]);
  expect(report.duplicates).toEqual([]);
  expect(report.overlaps).toEqual([]);
  expect(report.rows.length).toBe(ids.length * DIAMOND.length);
}

/** Every node still runs (a crash or an exit during a fault shows here, with its output). */
export function expectAllAlive(c: Cluster): void {
  for (const n of [c.apiNode, ...c.masters, ...c.workers]) {
    try {
      process.kill(n.proc.pid, 0);
    } catch {
      throw new Error(`${n.id} is no longer running:\n${n.proc.stderr().slice(-3000)}`);
    }
  }
}

/** Lines of every node's output matching `pattern`, prefixed with the node id (diagnostics on failure, figures). */
export function nodeLines(c: Cluster, pattern: RegExp): string[] {
  return [c.apiNode, ...c.masters, ...c.workers].flatMap((n) => (n.proc.stdout() + n.proc.stderr()).split("\n").filter((l) => pattern.test(l)).map((l) => `${n.id}: ${l}`));
}
