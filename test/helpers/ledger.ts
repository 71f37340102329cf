// A ledger of task effects for fault tests (RELIABILITY.md, workload W): each shell task appends
// one line to a file when its work is done, so after a fault a test can count effects per task
// (duplicates) and see whether two executions of one task ran at the same time (overlaps).
//
//   await using ledger = await createLedger();     // a temp dir of its own, removed on dispose
//   const script = ledger.task("sleep 0.5");      // a shell task's script: the work, then the line
//   …run workflows whose tasks use `script`…
//   const { rows, duplicates, overlaps } = ledger.read();    // `await ledger.read()` works too
//   ledger.count();                               // effects so far, cheap (for "wait for a share")
//
// Why a file and bash builtins: the ledger used to be a Postgres table each task wrote with psql
// (and `date` for the start). That cost 64-70 ms of CPU per effect on the shared 2-core box under
// test load (5 calls: 0.21 s user + 0.15 s sys), 36-43 ms on the same box idle (100 calls:
// 2.8-3.3 s user + 0.8-1.0 s sys), so the 1,200 effects of test/cluster/outage-redis.test.ts or
// the 3,000 of one failover run (test/cluster/failover.test.ts) spent one to three CPU-minutes on
// the ledger alone, on the cores the cluster under test needs. Here a task spawns no process for
// its effect (100 tasks: 0.16 s user + sys, against 0.14 s for a bare `bash script.sh`): the times
// come from bash's $EPOCHREALTIME (bash 5+; porpoise runs shell task scripts with bash,
// src/worker/task-types/shell.ts) and the line is one `printf … >> file` — a builtin, one open
// with O_APPEND and one write(2) of < 100 bytes (checked with strace), which Linux does not
// interleave with another process's append to the same local file. A file is also readable while
// the Store's Postgres is down (test/faults/store-outage.test.ts, cluster/outage-postgres.test.ts).
//
// Line format: `<idem key> <task instance> <pid> <start> <end>`, times as $EPOCHREALTIME prints
// them (seconds, the locale's radix character, 6 digits of microseconds). The idem key is
// `<workflow instance id>:<task name>` — one effect per task of a run, whatever the attempt —
// from the built-ins `${system.workflow.instance.id}` and `${system.task.definition.name}`,
// which porpoise substitutes into the script before it runs (src/core/params/builtins.ts);
// `taskInstance` is `${system.task.instance.id}`, the attempt's row (every attempt is a row of
// its own). The start is noted before the work, the end just before the line is written.
//
// Tasks may run as another OS user (porpoise as root runs them as `nobody`, worker/run-as.ts) and
// on an edge worker process of this machine: the dir is 0711 and the file 0666, in the system temp
// dir, so any local task process can append. The reader counts only complete lines (a write that
// crosses a page boundary can be seen half-done by a concurrent read) and throws on a complete
// line it cannot parse (two writes interleaved), rather than count it as nothing.

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface LedgerRow {
  idemKey: string;
  taskInstance: number;
  /** The task's shell ($$). */
  pid: number;
  startedAt: Date;
  endedAt: Date;
}

export interface LedgerOverlap {
  idemKey: string;
  a: LedgerRow;
  b: LedgerRow;
  /** How long both ran at once (from the microsecond times, so it can be fractional). */
  ms: number;
}

export interface LedgerReport {
  /** Every effect, by idem key, then start. */
  rows: LedgerRow[];
  /** Idem keys with more than one row: effects that happened twice (or more). */
  duplicates: { idemKey: string; count: number }[];
  /** Pairs of rows of one idem key whose [startedAt, endedAt] intersect. */
  overlaps: LedgerOverlap[];
}

export interface Ledger extends AsyncDisposable {
  /** The ledger file: one line per effect. */
  readonly path: string;
  /**
   * A shell script for a task: notes the start time, runs `work` (shell text; it may use porpoise
   * params), then appends the task's line. The script fails (non-zero) if the line cannot be
   * written, so a lost effect is not mistaken for a success.
   */
  task(work: string): string;
  /** The effects so far. Synchronous (one small file read), so it works with or without `await`. */
  read(): LedgerReport;
  /** Number of effects so far, without parsing them. */
  count(): number;
}

// Times as microseconds since the epoch: "1733460000.123456" (or "1733460000,123456" under a
// locale with a decimal comma) → 1733460000123456.
const LINE = /^(\S+) (\d+) (\d+) (\d+)[.,](\d{6}) (\d+)[.,](\d{6})$/;

interface Parsed {
  row: LedgerRow;
  startUs: number;
  endUs: number;
}

export async function createLedger(): Promise<Ledger> {
  const dir = mkdtempSync(join(tmpdir(), "porpoise-ledger-"));
  chmodSync(dir, 0o711);
  const path = join(dir, "effects.log");
  writeFileSync(path, "");
  chmodSync(path, 0o666);
  /** The complete lines: a line still being written (no "\n" yet) is left for the next read. */
  const lines = () => {
    const text = readFileSync(path, "utf8");
    return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").slice(0, -1);
  };
  return {
    path,
    task(work) {
      const line =
        "printf '%s %s %s %s %s\\n' '${system.workflow.instance.id}:${system.task.definition.name}' '${system.task.instance.id}' " +
        `"$$" "$ledger_started" "$EPOCHREALTIME" >> '${path}'`;
      return ["ledger_started=${EPOCHREALTIME:?the effect ledger needs bash 5 or later}", work, line].join("\n");
    },
    count() {
      const bytes = readFileSync(path);
      let n = 0;
      for (const b of bytes) if (b === 0x0a) n++;
      return n;
    },
    read() {
      const parsed = lines().map((l): Parsed => {
        const m = LINE.exec(l);
        if (!m) throw new Error(`ledger ${path}: a line that is not one effect (two writes interleaved?): ${JSON.stringify(l)}`);
        const startUs = Number(m[4]) * 1e6 + Number(m[5]);
        const endUs = Number(m[6]) * 1e6 + Number(m[7]);
        return { row: { idemKey: m[1]!, taskInstance: Number(m[2]), pid: Number(m[3]), startedAt: new Date(startUs / 1000), endedAt: new Date(endUs / 1000) }, startUs, endUs };
      });
      parsed.sort((x, y) => (x.row.idemKey < y.row.idemKey ? -1 : x.row.idemKey > y.row.idemKey ? 1 : x.startUs - y.startUs));
      const byKey = new Map<string, Parsed[]>();
      for (const p of parsed) {
        const list = byKey.get(p.row.idemKey);
        if (list) list.push(p);
        else byKey.set(p.row.idemKey, [p]);
      }
      const duplicates: LedgerReport["duplicates"] = [];
      const overlaps: LedgerOverlap[] = [];
      for (const [idemKey, list] of byKey) {
        if (list.length > 1) duplicates.push({ idemKey, count: list.length });
        for (let i = 0; i < list.length; i++)
          for (let j = i + 1; j < list.length; j++) {
            const a = list[i]!;
            const b = list[j]!;
            const us = Math.min(a.endUs, b.endUs) - Math.max(a.startUs, b.startUs);
            if (us > 0) overlaps.push({ idemKey, a: a.row, b: b.row, ms: us / 1000 });
          }
      }
      return { rows: parsed.map((p) => p.row), duplicates, overlaps };
    },
    async [Symbol.asyncDispose]() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
