// CPU time the whole machine spent while a measurement ran, from /proc/stat (every process:
// the system under test, its database and Redis, the bench client; a quiet machine adds little).
// On a machine with few cores this is what bounds throughput: tasks/s can be at most
// cores ÷ (CPU per task), so a per-task figure says what a throughput gap costs and where a
// system stands against its peers whatever the load of the run.

import { readFileSync } from "node:fs";

/** Busy jiffies of all CPUs so far (the "cpu" line of /proc/stat; idle and iowait are not busy). */
function busyJiffies(): number | null {
  let line: string;
  try {
    line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  } catch {
    return null; // not Linux: no figure
  }
  const [, ...fields] = line.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return user! + nice! + system! + irq! + softirq! + (steal ?? 0);
}

/** Jiffies per second of /proc/stat: USER_HZ, 100 on every Linux build Bun runs on. */
const USER_HZ = 100;

/** Starts counting: the returned function gives the machine's busy CPU seconds since (null: no /proc/stat). */
export function startMachineCpu(): () => number | null {
  const before = busyJiffies();
  return () => {
    const after = busyJiffies();
    return before !== null && after !== null ? (after - before) / USER_HZ : null;
  };
}

/** Busy CPU seconds summed over several measured parts (null until one part had a figure). */
export class CpuTally {
  seconds: number | null = null;
  add(part: number | null): void {
    if (part !== null) this.seconds = (this.seconds ?? 0) + part;
  }
}

/** µs of machine CPU per task, with 10 ms (one jiffy) resolution over the whole run. */
export function cpuPerTaskUs(busySeconds: number, tasks: number): number {
  return (busySeconds * 1e6) / tasks;
}
