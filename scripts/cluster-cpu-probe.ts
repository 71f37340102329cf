// A quick probe, not a scenario (no `name` export): CPU per task of each cluster process over a
// batch of no-op runs, from /proc/<pid>/stat (user + system ticks). CPU time is what a change to
// the hot path moves, and unlike tasks/s it holds still when other processes load the machine.
//
//   bun scripts/cluster-cpu-probe.ts [runs]      (1 api + 1 master + 1 worker, Postgres + Redis; default 50 runs)
//
// It lives outside scripts/bench/ on purpose: the bench runner imports every module there.

import { readFileSync, readdirSync } from "node:fs";
import { clusterNodes, startPorpoiseCluster } from "./bench/porpoise-cluster.ts";
import { noopTask, setUp, trigger, waitForInstance } from "./bench/porpoise-server.ts";

const runs = process.argv[2] === undefined ? 50 : Number(process.argv[2]);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`usage: bun scripts/cluster-cpu-probe.ts [runs]: runs must be a whole number of at least 1, got "${process.argv[2]}"`);
  process.exit(2);
}
const WIDTH = 100;
const ticks = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime, fields 14 and 15 of stat
};
await using c = await startPorpoiseCluster({ masters: 1, workers: 1, dispatchCache: true }, { workerSlots: 100 });
await setUp(c, { name: "wide", tasks: Array.from({ length: WIDTH }, (_, i) => noopTask(`t${i}`)) });
const warm = await trigger(c, "wide");
await waitForInstance(c, "wide", warm.id, 30);
const nodes = clusterNodes(c.cluster);
const before = nodes.map((n) => ticks(n.proc.pid));
// The servers this run shares: every postgres and redis-server process of the machine (the bench's
// database and Redis are the shared ones unless the environment points elsewhere).
const serverPids = (name: string) =>
  readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, "utf8").trim() === name;
      } catch {
        return false;
      }
    })
    .map(Number);
const servers = ["postgres", "redis-server"].map((name) => ({ name, pids: serverPids(name) }));
const serverTicks = (pids: number[]) =>
  pids.reduce((sum, pid) => {
    try {
      return sum + ticks(pid);
    } catch {
      return sum; // ended during the run: its ticks are not counted (the total reads low)
    }
  }, 0);
const serversBefore = servers.map((s) => serverTicks(s.pids));
const t0 = Date.now();
const ids: number[] = [];
for (let i = 0; i < runs; i++) ids.push((await trigger(c, "wide")).id);
for (;;) {
  const ended = await c.api<{ total: number }>("GET", "/projects/bench/workflow-instances?workflow=wide&state=SUCCESS,FAILURE,STOP,PAUSE&limit=1");
  if (ended.total >= runs + 1) break;
  await Bun.sleep(20);
}
const wall = Date.now() - t0;
const after = nodes.map((n) => ticks(n.proc.pid));
const serversAfter = servers.map((s) => serverTicks(s.pids));
const tasks = runs * WIDTH;
console.log(`${tasks} tasks in ${wall} ms (${Math.round((tasks * 1000) / wall)} tasks/s wall, load ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]})`);
const perTask = (t: number) => `${((t * 10_000) / tasks).toFixed(0)} µs`;
nodes.forEach((n, i) => console.log(`${n.id.padEnd(12)} CPU per task ${perTask(after[i]! - before[i]!)}`));
servers.forEach((s, i) => console.log(`${s.name.padEnd(12)} CPU per task ${perTask(serversAfter[i]! - serversBefore[i]!)} (all its processes on this machine)`));
const total = after.reduce((a, t, i) => a + t - before[i]!, 0) + serversAfter.reduce((a, t, i) => a + t - serversBefore[i]!, 0);
console.log(`${"total".padEnd(12)} CPU per task ${perTask(total)}`);
