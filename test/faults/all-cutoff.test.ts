// Two `porpoise all` on one Postgres (docs/architecture.md §1: on Postgres `all` is a cluster
// node), one of them cut off from Postgres by a TCP proxy while its tasks run, for three leases:
// the other node takes its slots and runs its attempts again as attempt + 1; the cut-off node's
// worker must have stopped them first (worker/lease-watch.ts, counted from its coordinator's last
// answered heartbeat), or each of those tasks has its effect twice. Counted with a ledger the
// tasks write at their end (test/helpers/ledger.ts): every run SUCCESS, 0 duplicate effects, no
// two attempts of a task running at once. Without the lease watch on `all` (before this test):
// 8 duplicate effects and 7 overlaps of 12 runs; with it, the cut-off node stopped its attempts
// ~2.3 s after the cut and the other node ran them once each.
//
//   ./node_modules/.bin/bun test test/faults/all-cutoff.test.ts

import { expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createLedger } from "../helpers/ledger.ts";
import { freshDatabaseUrl } from "../helpers/stores.ts";
import { tcpProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait.ts";
import { cleanEnv, fromSource, spawn, type Spawned } from "../integration/cli-process.ts";

const TOKEN = "all-cutoff-test-admin-token-0123456789abcdef";
const LEASE_S = 2;
const RUNS = 12;

test("two `all` nodes on one Postgres, one cut off mid-task for 3 leases: its attempts stop and run on the other, 0 duplicate effects, no overlap", async () => {
  await using db = await freshDatabaseUrl("postgres");
  await using ledger = await createLedger();
  const u = new URL(db.url);
  await using proxy = await tcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
  const viaProxy = new URL(db.url);
  viaProxy.hostname = "127.0.0.1";
  viaProxy.port = String(proxy.port);
  const tmp = mkdtempSync(join(tmpdir(), "porpoise-cutoff-"));
  chmodSync(tmp, 0o711);
  const probe = postgres(db.url, { max: 1, onnotice: () => {} });
  const nodes: Spawned[] = [];
  const start = async (name: string, url: string) => {
    const args = ["all", "--port", "0", "--data-dir", join(tmp, name), "--db", url, "--lease", String(LEASE_S), "--worker-slots", "8", "--shutdown-timeout", "2", "--admin-token", TOKEN];
    const p = spawn(fromSource(args), { cwd: tmp, env: cleanEnv() });
    nodes.push(p);
    return (await p.waitFor(/porpoise all ready on (\S+)/, 90_000))[1]!.replace(/\/$/, "");
  };
  const states = async () => Object.fromEntries((await probe<{ state: string; n: number }[]>`SELECT state, count(*)::int AS n FROM workflow_instances GROUP BY state`).map((r) => [r.state, r.n]));
  try {
    // A (cut off later) first: it creates the schema and the admin; then B joins and takes half the slots.
    await start("a", viaProxy.toString());
    const b = await start("b", db.url);
    const api = (path: string, init: RequestInit = {}) => fetch(`${b}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers ?? {}) } });
    expect((await api("/projects", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "etl" }) })).status).toBe(201);
    const def = { name: "long", tasks: [{ name: "t", type: "shell", script: ledger.task("sleep 4") }] };
    expect((await api("/projects/etl/workflows", { method: "POST", headers: { "content-type": "application/yaml" }, body: JSON.stringify(def) })).status).toBe(201);
    await waitFor("both nodes to hold slots", async () => {
      const owners = await probe<{ owner: string }[]>`SELECT DISTINCT owner FROM slot_leases WHERE owner IS NOT NULL AND expires_at > now()`;
      return owners.length === 2;
    }, 30_000, 100);
    for (let i = 0; i < RUNS; i++) expect((await api("/projects/etl/workflows/long/run", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(201);
    const running = await waitFor("attempts running on both nodes", async () => {
      const hosts = await probe<{ host: string; n: number }[]>`SELECT host, count(*)::int AS n FROM task_instances WHERE state = 'RUNNING_EXECUTION' GROUP BY host`;
      return hosts.length === 2 ? hosts : null;
    }, 30_000, 50);
    proxy.cut();
    const cutAt = Date.now();
    await Bun.sleep(3 * LEASE_S * 1000); // the fault itself: three leases cut off
    proxy.restore();
    const end = await waitFor("every run to end", async () => {
      const s = await states();
      const ended = (s.SUCCESS ?? 0) + (s.FAILURE ?? 0) + (s.STOP ?? 0);
      return ended === RUNS ? s : null;
    }, 120_000, 200).catch(async (err) => {
      console.log(`not all ended: ${JSON.stringify(await states())}\n${nodes.map((n) => n.stderr().split("\n").filter((l) => /WARN|ERROR|cut off/.test(l)).slice(-15).join("\n")).join("\n---\n")}`);
      throw err;
    });
    const report = await ledger.read();
    const attempts = await probe<{ attempts: number; n: number }[]>`SELECT attempt AS attempts, count(*)::int AS n FROM task_instances GROUP BY attempt ORDER BY 1`;
    const aLines = nodes[0]!.stderr().split("\n").filter((l) => /cut off for/.test(l));
    console.log(
      `all cut-off: ${RUNS} runs of one 4 s task on 2 \`all\` nodes (lease ${LEASE_S} s), running before the cut ${JSON.stringify(running)}, one node cut off from Postgres for ${3 * LEASE_S} s; ` +
        `ended ${JSON.stringify(end)}; attempts per number ${JSON.stringify(attempts)}; ledger rows ${report.rows.length}, duplicates ${report.duplicates.length}, overlaps ${report.overlaps.length}; ` +
        `the cut-off worker said "cut off" ${aLines.length} times, first ${aLines[0] ? `${Date.parse(aLines[0].slice(0, 24)) - cutAt} ms after the cut` : "never"}`,
    );
    expect(end).toEqual({ SUCCESS: RUNS });
    expect(report.duplicates).toEqual([]);
    expect(report.overlaps).toEqual([]);
    expect(report.rows.length).toBe(RUNS);
    // The cut-off node's attempts ran again: some task has a second attempt.
    expect(attempts.some((r) => r.attempts > 1)).toBe(true);
  } finally {
    for (const n of nodes) n.signal("SIGKILL");
    for (const n of nodes) await n.exit(10_000).catch(() => {});
    await probe.end({ timeout: 1 });
    rmSync(tmp, { recursive: true, force: true });
  }
}, 240_000);
