// CPU time the whole machine spent while a measurement ran, from /proc/stat (every process:
// the system under test, its database and Redis, the bench client; a quiet machine adds little).
// On a machine with few cores this is what bounds throughput: tasks/s can be at most
// cores ÷ (CPU per task), so a per-task figure says what a throughput gap costs and where a
// system stands against its peers whatever the load of the run.

import { readFileSync } from "node:fs";

/** Busy and total jiffies of all CPUs so far (the "cpu" line of /proc/stat; iowait counts as idle). */
function jiffies(): { busy: number; total: number } | null {
  let line: string;
  try {
    line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  } catch {
    return null; // not Linux: no figure
  }
  const [, ...fields] = line.trim().split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.map(Number);
  const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  return { busy, total: busy + idle! + iowait! };
}

/** Jiffies per second of /proc/stat: USER_HZ, 100 on every Linux build Bun runs on. */
const USER_HZ = 100;

export interface MachineCpu<T> {
  result: T;
  /** CPU seconds spent by every process during `fn`, or null where /proc/stat is not readable. */
  busySeconds: number | null;
}

/** Starts counting: the returned function gives the machine's busy CPU seconds since (null: no /proc/stat). */
export function startMachineCpu(): () => number | null {
  const before = jiffies();
  return () => {
    const after = jiffies();
    return before && after ? (after.busy - before.busy) / USER_HZ : null;
  };
}

/** Runs `fn` and reports the machine's busy CPU time over it. */
export async function measureMachineCpu<T>(fn: () => Promise<T>): Promise<MachineCpu<T>> {
  const since = startMachineCpu();
  const result = await fn();
  return { result, busySeconds: since() };
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
