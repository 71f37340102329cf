// A real `porpoise all` process for the end-to-end scenarios (all-*.ts, footprint.ts): spawned
// from source (`bun src/main.ts all`) or a built binary, on a fresh SQLite file in a temp data
// dir or a fresh Postgres database (cloned like the tests' stores), with a preset admin token,
// and driven only through its HTTP API. Not a scenario itself (exports no `run`).

import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Dialect } from "../../src/store/store.ts";
import type { BenchRow, BenchSystem } from "./bench-types.ts";
import { freshDatabaseUrl } from "../../test/helpers/stores.ts";

export const ROOT = resolve(import.meta.dir, "..", "..");
/** PORPOISE_BENCH_PROFILE=<dir>: every porpoise started from source writes a CPU profile (markdown) there when it exits. */
const PROFILE = process.env.PORPOISE_BENCH_PROFILE ? ["--cpu-prof-md", "--cpu-prof-dir", process.env.PORPOISE_BENCH_PROFILE] : [];
export const FROM_SOURCE = [process.execPath, ...PROFILE, join(ROOT, "src/main.ts")];

export interface TaskInstanceView {
  id: number;
  taskName: string;
  state: string;
  startTime: string | null;
  endTime: string | null;
}

export interface InstanceView {
  id: number;
  state: string;
  startTime: string | null;
  endTime: string | null;
  tasks: TaskInstanceView[];
}

export interface PorpoiseServer extends AsyncDisposable {
  readonly pid: number;
  readonly base: string;
  /** The Postgres database it runs on (null on SQLite), for pg_stat_database (pg-transactions.ts). */
  readonly dbUrl: string | null;
  /** JSON API call under /api/v1; throws with the status and body on anything but 2xx. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** VmRSS and VmHWM (peak) of the process, in MB (10^6 bytes), from /proc. */
  memory(): { rssMb: number; hwmMb: number };
}

export function freePort(): number {
  const s = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = s.port as number;
  s.stop(true);
  return port;
}

export function procStatusMb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return (Number(m[1]) * 1024) / 1e6;
}

/** Starts `porpoise all` and resolves once /readyz answers 200; disposing stops it and removes its data. */
export async function startPorpoise(dialect: Dialect, opts: { command?: string[]; extraArgs?: string[] } = {}): Promise<PorpoiseServer> {
  const tmp = mkdtempSync(join(tmpdir(), "porpoise-bench-"));
  // As root, tasks run as nobody and must pass through to the work dir, a sibling of the data dir.
  chmodSync(tmp, 0o711);
  const db = dialect === "postgres" ? await freshDatabaseUrl("postgres") : null;
  const token = `bench-${crypto.randomUUID()}-${crypto.randomUUID()}`;
  const port = freePort();
  const logFile = join(tmp, "porpoise.log");
  const args = ["all", "--port", String(port), "--data-dir", join(tmp, "data"), "--admin-token", token, "--shutdown-timeout", "2"];
  if (db) args.push("--db", db.url);
  // Only what a shell would pass; no PORPOISE_* from the caller's environment changes the setup.
  const env: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "TMPDIR", "LANG"]) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  const proc = Bun.spawn([...(opts.command ?? FROM_SOURCE), ...args, ...(opts.extraArgs ?? [])], {
    cwd: tmp,
    env,
    stdout: Bun.file(logFile),
    stderr: Bun.file(logFile),
  });
  const base = `http://127.0.0.1:${port}`;
  const cleanup = async () => {
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await proc.exited;
    clearTimeout(killer);
    rmSync(tmp, { recursive: true, force: true });
    await db?.[Symbol.asyncDispose]();
  };
  const logTail = () => {
    try {
      return readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n");
    } catch {
      return "(no output)";
    }
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`porpoise all (${dialect}) exited with ${proc.exitCode} before it was ready:\n${logTail()}`);
      if (Date.now() > deadline) throw new Error(`porpoise all (${dialect}) not ready after 60 s:\n${logTail()}`);
      const ok = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
      if (ok) break;
      await Bun.sleep(5);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  return {
    pid: proc.pid,
    base,
    dbUrl: db?.url ?? null,
    async api<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${base}/api/v1${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 500)}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    memory() {
      return { rssMb: procStatusMb(proc.pid, "VmRSS"), hwmMb: procStatusMb(proc.pid, "VmHWM") };
    },
    [Symbol.asyncDispose]: cleanup,
  };
}

/** A project "bench" with one workflow per definition (each ONLINE, version 1). */
export async function setUp(server: PorpoiseServer, ...definitions: unknown[]): Promise<void> {
  await server.api("POST", "/projects", { name: "bench", description: "benchmarks" });
  for (const def of definitions) await server.api("POST", "/projects/bench/workflows", def);
}

/** Starts a run; returns the instance id and the client clock (ms since epoch) just before the request left. */
export async function trigger(server: PorpoiseServer, workflow: string): Promise<{ id: number; sentAt: number }> {
  const sentAt = Date.now();
  const { id } = await server.api<{ id: number }>("POST", `/projects/bench/workflows/${workflow}/run`, {});
  return { id, sentAt };
}

/** How often waitForInstance asks (see there). */
const POLL_MS = 20;

const TERMINAL = new Set(["SUCCESS", "FAILURE", "STOP", "PAUSE"]);

/**
 * Waits for the newest instance of `workflow` to end (the list endpoint, one row: cheap to poll
 * even for a 1,000-task run), then reads it in full. Anything but SUCCESS throws.
 *
 * Every POLL_MS: the figures come from stored timestamps, so the poll only decides when the next
 * run starts, but it runs on the same cores while a run is measured, and the peers' benches wait
 * on in-process events instead. At 2 ms it was ~500 api requests and Store reads a second during
 * the measured window: chain-40 (two alternating pairs, 2 vs 20 ms, same session) 2.01 / 2.27 vs
 * 1.67 / 1.78 ms per edge on `all` + Postgres and 4.90 / 5.88 vs 3.71 / 4.55 on the cluster.
 */
export async function waitForInstance(server: PorpoiseServer, workflow: string, id: number, pollMs = POLL_MS, timeoutMs = 120_000): Promise<InstanceView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const page = await server.api<{ items: { id: number; state: string }[] }>("GET", `/projects/bench/workflow-instances?workflow=${workflow}&limit=1`);
    const newest = page.items[0];
    if (newest && newest.id === id && TERMINAL.has(newest.state)) break;
    if (Date.now() > deadline) throw new Error(`workflow instance ${id} (${workflow}) not finished after ${timeoutMs / 1000} s (state ${newest?.state})`);
    await Bun.sleep(pollMs);
  }
  const instance = await server.api<InstanceView>("GET", `/workflow-instances/${id}`);
  if (instance.state !== "SUCCESS") {
    const failed = instance.tasks.find((t) => t.state !== "SUCCESS");
    throw new Error(`workflow instance ${id} (${workflow}) ended ${instance.state}${failed ? `; task ${failed.taskName} ${failed.state}` : ""}`);
  }
  return instance;
}

/** Milliseconds since epoch of a stored timestamp (the API gives ISO strings with ms precision). */
export function ms(iso: string | null, what: string): number {
  if (iso === null) throw new Error(`${what} has no timestamp`);
  return Date.parse(iso);
}

export function noopTask(name: string, deps: string[] = []): { name: string; type: "noop"; deps: string[] } {
  return { name, type: "noop", deps };
}

/** A scenario that measured part of what it set out to: run.ts keeps `rows` and reports the error. */
export class PartialFailure extends Error {
  constructor(
    message: string,
    readonly rows: BenchRow[],
  ) {
    super(message);
  }
}

export const SYSTEM_OF: Record<Dialect, BenchSystem> = { sqlite: "porpoise-sqlite", postgres: "porpoise-postgres" };
