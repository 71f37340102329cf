// The edge worker's metrics listener (issue 13 follow-up): a real `porpoise worker --gateway`
// process reaching a real `porpoise all` through a TCP proxy the test cuts. /readyz says why it
// is not ready (not registered yet, then the gateway unreachable mid-task), /metrics' figures
// move (dispatch results, queue wait, run time, spool depth, gateway reachable, heartbeat age).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { parsePrometheus, type Scrape } from "../helpers/prometheus.ts";
import { dataDir, edgeEnv, type EdgeEnv, waitFor } from "./edge-harness.ts";

let e: EdgeEnv;
let proxy: TcpProxy;
beforeAll(async () => {
  // Lease 2 s (edge lease 6 s): the cut below stays well inside it, so the attempt is not rerun.
  e = await edgeEnv("porpoise-edge-metrics-", { lease: "2s" });
  const url = new URL(e.url);
  proxy = await tcpProxy({ host: url.hostname, port: Number(url.port) });
}, 60_000);
afterAll(async () => {
  await proxy?.[Symbol.asyncDispose]();
  await e?.[Symbol.asyncDispose]();
});

const scrape = async (base: string): Promise<Scrape> => {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return parsePrometheus(await res.text());
};
const readyz = async (base: string) => {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: (await res.json()) as { status?: string; error?: { code: string; message: string; details: { path: string; message: string }[] } } };
};
const reason = async (base: string, pattern: RegExp) =>
  waitFor(`/readyz to say ${pattern}`, async () => {
    const r = await readyz(base);
    return r.status === 503 && r.body.error?.details.some((d) => d.path === "gateway" && pattern.test(d.message)) ? r.body.error : null;
  }, 30_000, 50);

test("an edge worker serves /metrics, /healthz and /readyz: not ready with the reason while the gateway is unreachable, figures move as it works", async () => {
  const { token } = await e.workerToken(["m"]);
  // Cut before it starts: it cannot register.
  proxy.cut();
  const w = e.worker({ token, groups: ["m"], dataDir: dataDir(e, "w-metrics"), gateway: `http://127.0.0.1:${proxy.port}` });
  const base = (await w.waitFor(/metrics on (http:\S+)\/metrics/, 30_000))[1]!;
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  const unregistered = await reason(base, /not registered with the gateway http:\/\/127\.0\.0\.1:\d+: the gateway .* did not answer/);
  expect(unregistered.code).toBe("NOT_READY");
  expect((await scrape(base)).value("porpoise_edge_gateway_reachable")).toBe(0);

  proxy.restore();
  await w.waitFor(/edge worker \S+ ready/, 30_000);
  await waitFor("/readyz 200", async () => (await readyz(base)).status === 200, 30_000, 50);
  const idle = await scrape(base);
  expect(idle.value("porpoise_edge_gateway_reachable")).toBe(1);
  expect(idle.value("porpoise_worker_slots")).toBe(4);
  expect(idle.value("porpoise_build_info", { mode: "worker" })).toBe(1);
  expect(idle.help.get("porpoise_edge_spool_items")).toContain("not taken yet");

  // One task through: dispatch result, queue wait and run time counted, nothing left spooled.
  await e.workflow("quick", [{ name: "t", type: "shell", workerGroup: "m", script: "echo hi" }]);
  expect(await e.ended(await e.run("quick"))).toBe("SUCCESS");
  const ran = await waitFor("the spool to drain", async () => {
    const s = await scrape(base);
    return s.sum("porpoise_edge_spool_items") === 0 && s.value("porpoise_dispatch_results_total", { result: "started" }) === 1 ? s : null;
  }, 20_000, 50);
  expect(ran.value("porpoise_task_queue_wait_seconds_count", { worker_group: "m" })).toBe(1);
  expect(ran.value("porpoise_task_duration_seconds_count", { type: "shell", state: "SUCCESS" })).toBe(1);

  // Cut mid-task: the result waits in the spool, /readyz says the gateway is unreachable, the heartbeat ages.
  const marker = join(e.env.tmp, "metrics-marker");
  await e.workflow("held", [{ name: "t", type: "shell", workerGroup: "m", script: `echo begin; while [ ! -f ${marker} ]; do sleep 0.05; done; echo finish` }]);
  const id = await e.run("held");
  await waitFor("the task RUNNING", async () => (await e.store.taskInstances.listForInstance(id)).find((t) => t.state === "RUNNING_EXECUTION"), 30_000, 20);
  await waitFor("running on the worker", async () => (await scrape(base)).value("porpoise_worker_running_tasks") === 1, 10_000, 50);
  const before = (await scrape(base)).value("porpoise_edge_heartbeat_age_seconds");
  proxy.cut();
  writeFileSync(marker, "");
  const cut = await reason(base, /the gateway http:\/\/127\.0\.0\.1:\d+ is unreachable \(last heartbeat answered \d+ s ago\)/);
  expect(cut.details.find((d) => d.path === "gateway")!.message).toContain("did not answer");
  const spooled = await waitFor("the result spooled", async () => {
    const s = await scrape(base);
    return s.value("porpoise_edge_spool_items", { type: "event" }) >= 1 && s.value("porpoise_edge_heartbeat_age_seconds") > before ? s : null;
  }, 20_000, 50);
  expect(spooled.value("porpoise_edge_gateway_reachable")).toBe(0);
  expect(spooled.value("porpoise_worker_running_tasks")).toBe(0);

  proxy.restore();
  expect(await e.ended(id)).toBe("SUCCESS");
  await waitFor("/readyz 200 again", async () => (await readyz(base)).status === 200, 30_000, 50);
  const after = await waitFor("the spool drained", async () => {
    const s = await scrape(base);
    return s.sum("porpoise_edge_spool_items") === 0 ? s : null;
  }, 20_000, 50);
  expect(after.value("porpoise_edge_gateway_reachable")).toBe(1);
  expect(after.value("porpoise_dispatch_results_total", { result: "started" })).toBe(2);
  expect(after.value("porpoise_task_duration_seconds_count", { type: "shell", state: "SUCCESS" })).toBe(2);
  expect((await e.store.taskInstances.listForInstance(id)).map((t) => [t.attempt, t.state])).toEqual([[1, "SUCCESS"]]);

  // Anything else on the listener: a clear refusal.
  const post = await fetch(`${base}/metrics`, { method: "POST" });
  expect(post.status).toBe(405);
  expect(((await post.json()) as { error: { code: string } }).error.code).toBe("METHOD_NOT_ALLOWED");
  const missing = await fetch(`${base}/api/v1/projects`);
  expect(missing.status).toBe(404);
  expect(((await missing.json()) as { error: { message: string } }).error.message).toContain("/metrics, /healthz and /readyz");

  await waitFor("the worker to stop", async () => {
    w.signal("SIGTERM");
    return (await w.exit(20_000)) === 0;
  });
}, 120_000);

test("an edge worker whose --metrics-port is taken says which flag to change and exits 1", async () => {
  const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const { token } = await e.workerToken(["m2"]);
    const w = e.worker({ token, groups: ["m2"], dataDir: dataDir(e, "w-taken"), extraArgs: ["--metrics-port", String(taken.port)] });
    expect(await w.exit(30_000)).not.toBe(0);
    expect(w.stderr() + w.stdout()).toContain(`cannot listen on 127.0.0.1:${taken.port}: the address is already in use; pass another --metrics-port`);
  } finally {
    taken.stop(true);
  }
}, 60_000);
