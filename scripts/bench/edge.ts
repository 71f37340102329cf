// edge (issue 13): edge workers through the gateway of one `porpoise all` (SQLite) over loopback.
//
// - trigger→running on an edge worker: single-`noop`-task runs of worker group "edge", triggered
//   one at a time through the API; the one edge worker process (`porpoise worker --gateway`)
//   long-polls the gateway. Per run = the stored task start (the worker's clock) − the bench's
//   Date.now() before POST …/run; ms resolution.
// - tasks/s through one gateway: one run of 1,000 independent noop tasks of group "fleet", served
//   by 50 lightweight protocol clients in this process (capacity 10 each: poll → running + done → ack).
// - idle RSS of the edge worker: VmRSS 5 s after it said ready (dist/porpoise-linux-x64 when built).
// - api memory per connected edge worker: the server's VmRSS with 200 clients registered and
//   their polls held, minus its VmRSS before, over 200 (one sample; GC makes it noisy).
// - binary sizes: every dist/porpoise-linux-* variant present (`npm run build` makes them all).
//
// Also runnable alone: `bun scripts/bench/edge.ts [smoke|full]`.

import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchRow, BenchSize } from "./bench-types.ts";
import { BINARY, binaryToMeasure, fromSourceNote } from "./built-binary.ts";
import { FROM_SOURCE, ms, procStatusMb, ROOT, setUp, startPorpoise, trigger, waitForInstance } from "./porpoise-server.ts";

export const name = "edge";
const DIST = join(ROOT, "dist");

export async function run(opts: { size: BenchSize }): Promise<BenchRow[]> {
  const full = opts.size === "full";
  const rows: BenchRow[] = [];
  const built = await binaryToMeasure(full, "edge");
  const useBinary = built !== null;
  const command = useBinary ? [BINARY] : FROM_SOURCE;
  const what = built ? built.note : fromSourceNote();
  await using server = await startPorpoise("sqlite", { command });
  const { token } = await server.api<{ token: string }>("POST", "/worker-tokens", { name: "bench", groups: ["edge", "fleet", "idle"] });
  const tasks = full ? 1000 : 50;
  await setUp(
    server,
    { name: "one", tasks: [{ name: "t", type: "noop", workerGroup: "edge" }] },
    { name: "wide", tasks: Array.from({ length: tasks }, (_, i) => ({ name: `t${i}`, type: "noop", workerGroup: "fleet" })) },
  );

  const dir = mkdtempSync(join(tmpdir(), "porpoise-bench-edge-"));
  chmodSync(dir, 0o711);
  const worker = Bun.spawn([...command, "worker", "--gateway", server.base, "--token", token, "--worker-groups", "edge", "--data-dir", join(dir, "data"), "--worker-slots", "4", "--metrics-port", "0"], {
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  try {
    const ready = await waitForLine(worker, /edge worker \S+ ready/, 30_000);
    if (ready !== true) throw new Error(`the edge worker did not get ready within 30 s:\n${ready}`);
    await Bun.sleep(5000);
    rows.push({ scenario: name, metric: "idle RSS edge worker (x64)", unit: "MB", value: procStatusMb(worker.pid, "VmRSS"), note: `VmRSS 5 s after ready; ${what}; target ≤ 40 MB` });

    const [warmup, runs] = full ? [20, 500] : [3, 20];
    const samples: number[] = [];
    for (let r = -warmup; r < runs; r++) {
      const { id, sentAt } = await trigger(server, "one");
      const instance = await waitForInstance(server, "one", id);
      if (r >= 0) samples.push(ms(instance.tasks[0]!.startTime, "task start") - sentAt);
    }
    rows.push({ scenario: name, metric: "trigger→running on an edge worker", unit: "ms", samples, note: "loopback; client send → stored task start, ms resolution" });

    const base = procStatusMb(server.pid, "VmRSS");
    const stop = new AbortController();
    // Not more: Bun's fetch keeps at most 256 requests in flight per process (BUN_CONFIG_MAX_HTTP_REQUESTS),
    // and held polls beyond that queue the bench's own calls behind them.
    const clients = 200;
    const fleet = Array.from({ length: clients }, (_, i) => client(server.base, token, `fleet-${i}`, i < 50 ? 10 : 0, stop.signal));
    await waitFor(async () => (await server.api<{ edgeGateway: { sessions: number } }>("GET", "/cluster")).edgeGateway.sessions >= clients, 60_000);
    await Bun.sleep(1000);
    const held = procStatusMb(server.pid, "VmRSS");
    rows.push({ scenario: name, metric: "api memory per connected edge worker", unit: "KB", value: ((held - base) * 1e3) / clients, note: `VmRSS with ${clients} registered clients holding polls, minus before, / ${clients}; one sample, GC makes it noisy` });

    const started = performance.now();
    const { id } = await trigger(server, "wide");
    await waitForInstance(server, "wide", id, 5);
    rows.push({ scenario: name, metric: "tasks/s through one gateway", unit: "tasks/s", value: tasks / ((performance.now() - started) / 1000), note: `${tasks} noop tasks, 50 protocol clients × capacity 10 (${clients - 50} more idle, polls held)` });
    stop.abort();
    await Promise.allSettled(fleet);
  } finally {
    worker.kill("SIGTERM");
    await worker.exited;
    rmSync(dir, { recursive: true, force: true });
  }
  for (const f of existsSync(DIST) ? readdirSync(DIST).filter((f) => /^porpoise-linux-[a-z0-9-]+$/.test(f)).sort() : []) {
    rows.push({ scenario: name, metric: `binary size ${f}`, unit: "MB", value: statSync(join(DIST, f)).size / 1e6 });
  }
  return rows;
}

async function waitFor(fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`edge bench: condition not met within ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

/** true once `pattern` was printed; what was printed when it was not in time (or the process exited). */
async function waitForLine(proc: Bun.Subprocess<"ignore", "pipe", "pipe">, pattern: RegExp, timeoutMs: number): Promise<true | string> {
  let seen = "";
  const deadline = Date.now() + timeoutMs;
  const readers = [proc.stdout.getReader(), proc.stderr.getReader()];
  const decoder = new TextDecoder();
  const pump = async (r: (typeof readers)[number]) => {
    for (;;) {
      const { value, done } = await r.read();
      if (done) return;
      seen += decoder.decode(value);
    }
  };
  void Promise.all(readers.map(pump));
  while (!pattern.test(seen)) {
    if (Date.now() > deadline || proc.exitCode !== null) return seen;
    await Bun.sleep(20);
  }
  return true;
}

/** A lightweight edge client: register, then poll → running + done → ack until `signal`. */
async function client(base: string, token: string, workerId: string, capacity: number, signal: AbortSignal): Promise<void> {
  const call = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body), signal });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const { session } = (await call("/edge/v1/register", { protocol: 1, workerId, version: "0.1.0", arch: "x64", platform: "linux", host: "bench", groups: capacity > 0 ? ["fleet"] : ["idle"], slots: Math.max(1, capacity) })) as { session: string };
  while (!signal.aborted) {
    const r = (await call("/edge/v1/poll", { session, capacity: Math.max(1, capacity), groups: capacity > 0 ? ["fleet"] : ["idle"], waitMs: 25_000 }).catch(() => ({ jobs: [] }))) as {
      jobs: { ready: { taskInstanceId: number; workflowInstanceId: number; slot: number; epoch: number; attempt: number; token: string } }[];
    };
    if (r.jobs.length === 0) continue;
    const now = new Date().toISOString();
    const events = r.jobs.flatMap((j) => {
      const ref = { taskInstanceId: j.ready.taskInstanceId, workflowInstanceId: j.ready.workflowInstanceId, slot: j.ready.slot, epoch: j.ready.epoch, attempt: j.ready.attempt, token: j.ready.token };
      return [{ kind: "done", ...ref, state: "SUCCESS", exitCode: null, output: {}, message: null, endTime: now, host: workerId, logPath: null, startTime: now }];
    });
    await call("/edge/v1/events", { session, events }).catch(() => {});
    await call("/edge/v1/ack", { session, tasks: r.jobs.map((j) => j.ready) }).catch(() => {});
  }
}

if (import.meta.main) {
  const { summarize } = await import("./bench-types.ts");
  console.table((await run({ size: process.argv[2] === "full" ? "full" : "smoke" })).map(summarize));
}
