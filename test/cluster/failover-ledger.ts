// The ledger of the cluster failover tests (failover.test.ts): each shell task appends one line
// (instance:task, its attempt row, pid, start and end time) to a file when its work is done, so
// a test counts effects per (instance, task) — duplicates — and sees two executions of one task
// at once — overlaps. Same questions as test/helpers/ledger.ts, cheaper answer: that ledger
// writes its row with psql, measured 70 ms CPU per call here (5 calls: 0.21 s user + 0.15 s sys),
// i.e. ~210 CPU-seconds for the 3,000 tasks of one failover run on a 2-core box; this one uses
// only bash builtins (printf, $EPOCHREALTIME): one short O_APPEND write per effect, which the
// kernel does not interleave with another.
//
// The idem key is `<workflow instance id>:<task name>` from the built-ins porpoise substitutes
// before the script runs (src/core/params/builtins.ts); `taskInstance` is
// `${system.task.instance.id}`, the attempt's row (every attempt is a row of its own).

import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface EffectRow {
  idemKey: string;
  taskInstance: number;
  pid: number;
  /** Epoch seconds (with microseconds) from bash's $EPOCHREALTIME. */
  startedAt: number;
  endedAt: number;
}

export interface EffectReport {
  rows: EffectRow[];
  /** Idem keys with more than one row: effects that happened twice (or more). */
  duplicates: { idemKey: string; count: number }[];
  /** Pairs of rows of one idem key whose [startedAt, endedAt] intersect. */
  overlaps: { idemKey: string; a: EffectRow; b: EffectRow }[];
}

export interface EffectLedger {
  readonly path: string;
  /** A shell task's script: notes the start, runs `work` (shell text), then appends the task's line. */
  task(work: string): string;
  read(): EffectReport;
  /** Number of lines so far (cheap, for "wait until a share of the work is done"). */
  count(): number;
}

/** A ledger file in `dir` (the cluster's temp dir, 0711: task users reach the 0666 file). */
export function effectLedger(dir: string): EffectLedger {
  const path = join(dir, "effects.log");
  writeFileSync(path, "");
  chmodSync(path, 0o666);
  const lines = () => readFileSync(path, "utf8").split("\n").filter((l) => l.length > 0);
  return {
    path,
    task(work) {
      const line = "printf '%s %s %s %s %s\\n' '${system.workflow.instance.id}:${system.task.definition.name}' '${system.task.instance.id}' \"$$\" \"$ledger_started\" \"$EPOCHREALTIME\"";
      return ["ledger_started=$EPOCHREALTIME", work, `${line} >> '${path}'`].join("\n");
    },
    count: () => lines().length,
    read() {
      const rows = lines().map((l): EffectRow => {
        const [idemKey, taskInstance, pid, startedAt, endedAt] = l.split(" ");
        return { idemKey: idemKey!, taskInstance: Number(taskInstance), pid: Number(pid), startedAt: Number(startedAt), endedAt: Number(endedAt) };
      });
      const byKey = new Map<string, EffectRow[]>();
      for (const row of rows) byKey.set(row.idemKey, [...(byKey.get(row.idemKey) ?? []), row]);
      const duplicates: EffectReport["duplicates"] = [];
      const overlaps: EffectReport["overlaps"] = [];
      for (const [idemKey, list] of byKey) {
        if (list.length > 1) duplicates.push({ idemKey, count: list.length });
        for (let i = 0; i < list.length; i++)
          for (let j = i + 1; j < list.length; j++) {
            const a = list[i]!;
            const b = list[j]!;
            if (Math.min(a.endedAt, b.endedAt) > Math.max(a.startedAt, b.startedAt)) overlaps.push({ idemKey, a, b });
          }
      }
      return { rows, duplicates, overlaps };
    },
  };
}
