// What `porpoise run --wait` shows while an instance runs. Pure functions from instance views
// to text (tested on their own), and a small driver that polls and writes. On a terminal it
// is one redrawn line:
//   [██████░░░░] 12/40 done · 3 running · 1 failed · 00:07 · running: extract, load…
// elsewhere (CI logs, pipes) plain lines, only when something changed:
//   12:00:01 task extract SUCCESS (1.2s)

import { ACTIVE_TASK_STATES, SUCCESS_TASK_STATES, TERMINAL_TASK_STATES, TERMINAL_WORKFLOW_STATES } from "../core/states.ts";
import type { InstanceView, TaskAttempt } from "./client.ts";

const FAILED_TASK_STATES: readonly string[] = ["FAILURE", "KILL"];
const has = (list: readonly string[], state: string) => list.includes(state);

export function isInstanceEnded(state: string): boolean {
  return has(TERMINAL_WORKFLOW_STATES, state);
}

export interface ProgressCounts {
  total: number;
  done: number;
  running: number;
  failed: number;
  /**
   * Once the instance ended: tasks of the definition that never got an attempt. On SUCCESS
   * they were skipped (forbidden, branch not taken, outside startTasks); otherwise some may
   * also not have been reached, so they are shown as "not run".
   */
  notRun: number;
  /** Tasks whose latest attempt is alive, in name order. */
  runningNames: string[];
}

/** Each task's latest attempt (retries and fault-tolerance reruns are new attempts). */
export function latestAttempts(tasks: readonly TaskAttempt[]): Map<string, TaskAttempt> {
  const latest = new Map<string, TaskAttempt>();
  for (const t of tasks) {
    const seen = latest.get(t.taskName);
    if (!seen || t.attempt > seen.attempt || (t.attempt === seen.attempt && t.id > seen.id)) latest.set(t.taskName, t);
  }
  return latest;
}

/**
 * `declaredTotal`: the number of tasks in the definition, when known (instances create task
 * rows lazily); else the server's `taskCount`, else the tasks started so far.
 */
export function countProgress(view: InstanceView, declaredTotal?: number): ProgressCounts {
  const latest = latestAttempts(view.tasks);
  const declared = declaredTotal ?? view.taskCount ?? undefined;
  const total = Math.max(declared ?? 0, latest.size);
  const notRun = declared !== undefined && isInstanceEnded(view.state) ? total - latest.size : 0;
  const counts: ProgressCounts = { total, done: 0, running: 0, failed: 0, notRun, runningNames: [] };
  for (const t of latest.values()) {
    if (has(SUCCESS_TASK_STATES, t.state)) counts.done++;
    else if (has(FAILED_TASK_STATES, t.state)) counts.failed++;
    else if (has(ACTIVE_TASK_STATES, t.state) || t.state === "NEED_FAULT_TOLERANCE") {
      counts.running++;
      counts.runningNames.push(t.taskName);
    }
  }
  counts.runningNames.sort();
  return counts;
}

/** `00:07`, `12:34`, `1:02:03`. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${two(m)}:${two(s % 60)}`;
}

/** A task's run time: `0.4s`, `12.0s`, `2m03s`, `1h02m`. */
export function formatDuration(ms: number): string {
  const t = Math.max(0, ms);
  if (t < 60_000) return `${(t / 1000).toFixed(1)}s`;
  const s = Math.floor(t / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** `[██████░░░░]`; full only when everything is done, so a rounding never claims completion. */
export function renderBar(done: number, total: number, cells = 10): string {
  let filled = total <= 0 ? 0 : Math.floor((done / total) * cells);
  if (done < total && filled === cells) filled = cells - 1;
  return `[${"█".repeat(filled)}${"░".repeat(cells - filled)}]`;
}

// Terminal cells per code point: 0 for combining marks and zero-width characters, 2 for the
// East Asian wide ranges and emoji, 1 otherwise. An approximation of wcwidth, good enough to
// keep one line on one row.
function cellWidth(cp: number): number {
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) || (cp >= 0x20000 && cp <= 0x3fffd)
  ) return 2;
  return 1;
}

export function displayWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += cellWidth(ch.codePointAt(0) as number);
  return w;
}

/** Cut to at most `width` cells, ending in "…" when something was cut. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return "";
  if (displayWidth(text) <= width) return text;
  let out = "";
  let w = 0;
  for (const ch of text) {
    const cw = cellWidth(ch.codePointAt(0) as number);
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return `${out}…`;
}

// Names come from workflow files; a control character would move the cursor or ring the bell.
const sanitize = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");

/** The one redrawn line; at most `width - 1` cells, since writing the last column makes some terminals wrap. */
export function progressLine(c: ProgressCounts, elapsedMs: number, width: number, state?: string): string {
  const fixed = `${renderBar(c.done, c.total)} ${c.done}/${c.total} done${notRunText(c, state)} · ${c.running} running · ${c.failed} failed · ${formatElapsed(elapsedMs)}`;
  const line = c.runningNames.length === 0 ? fixed : `${fixed} · running: ${c.runningNames.map(sanitize).join(", ")}`;
  return truncate(line, Math.max(1, width - 1));
}

function clock(at: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}

function time(stamp: string | null | undefined): Date | null {
  if (!stamp) return null;
  const d = new Date(stamp);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** `12:00:01 task extract SUCCESS (1.2s)`, with the attempt number from the second on and the failure message. */
export function taskLine(t: TaskAttempt, now: Date): string {
  const start = time(t.startTime);
  const end = time(t.endTime) ?? now;
  const facts = [start ? formatDuration(end.getTime() - start.getTime()) : null, t.attempt > 1 ? `attempt ${t.attempt}` : null].filter(Boolean);
  const why = t.message && !has(SUCCESS_TASK_STATES, t.state) ? `: ${sanitize(t.message).slice(0, 300)}` : "";
  return `${clock(end)} task ${sanitize(t.taskName)} ${t.state}${facts.length ? ` (${facts.join(", ")})` : ""}${why}`;
}

/** Plain-mode lines for what changed between two views: the instance's state and attempts that ended. */
export function changedLines(prev: InstanceView | null, next: InstanceView, now: Date): string[] {
  const lines: string[] = [];
  const ended = (t: TaskAttempt) => has(TERMINAL_TASK_STATES, t.state);
  const before = new Map((prev?.tasks ?? []).map((t) => [t.id, t]));
  const finished = next.tasks
    .filter((t) => ended(t) && !(before.has(t.id) && ended(before.get(t.id) as TaskAttempt)))
    .sort((a, b) => (time(a.endTime)?.getTime() ?? 0) - (time(b.endTime)?.getTime() ?? 0) || a.id - b.id);
  for (const t of finished) lines.push(taskLine(t, now));
  // The instance's own state last: its end follows its tasks' ends.
  if (prev?.state !== next.state) lines.push(`${clock(now)} workflow instance ${next.id} ${next.state}`);
  return lines;
}

/** The elapsed time shown: the server's start and end when known, else since `watchedSince`. */
export function elapsedOf(view: InstanceView, nowMs: number, watchedSince: number): number {
  const start = time(view.startTime)?.getTime();
  const end = time(view.endTime)?.getTime();
  if (start !== undefined && end !== undefined) return end - start;
  return Math.max(0, nowMs - (start ?? watchedSince));
}

/** ` · 1 skipped` after a success, ` · 2 not run` after anything else, nothing when every task ran. */
export function notRunText(c: ProgressCounts, state: string | undefined): string {
  if (c.notRun <= 0) return "";
  return ` · ${c.notRun} ${state === "SUCCESS" ? "skipped" : "not run"}`;
}

/** `workflow instance 7 SUCCESS: 39/40 done · 1 skipped · 0 failed · 00:07` */
export function summaryLine(view: InstanceView, c: ProgressCounts, elapsedMs: number): string {
  return `workflow instance ${view.id} ${view.state}: ${c.done}/${c.total} done${notRunText(c, view.state)} · ${c.failed} failed · ${formatElapsed(elapsedMs)}`;
}

/** Latest attempts that failed or were killed, by name: the tasks to show logs of. */
export function failedAttempts(view: InstanceView): TaskAttempt[] {
  return [...latestAttempts(view.tasks).values()].filter((t) => has(FAILED_TASK_STATES, t.state)).sort((a, b) => a.id - b.id);
}

export interface ProgressOutput {
  write(text: string): void;
  readonly isTTY: boolean;
  /** Terminal width now (it may change while we run). */
  columns(): number;
}

export interface WatchOptions {
  fetchInstance: () => Promise<InstanceView>;
  output: ProgressOutput;
  /** Tasks in the definition, when known. */
  total?: number;
  /** A client-side display, so polling is fine; ~2 requests a second cost the server little. */
  intervalMs?: number;
  now?: () => number;
  signal?: AbortSignal;
}

/** Shows progress until the instance ends (returns its last view) or `signal` aborts (returns the view so far). */
export async function watchInstance(opts: WatchOptions): Promise<InstanceView> {
  const now = opts.now ?? Date.now;
  const since = now();
  const { output } = opts;
  let prev: InstanceView | null = null;
  let drawn = "";
  for (;;) {
    const view = await opts.fetchInstance();
    const t = now();
    const counts = countProgress(view, opts.total);
    const done = isInstanceEnded(view.state);
    if (output.isTTY) {
      // Failures stay on screen above the bar; the bar itself is redrawn in place.
      const failures = changedLines(prev, view, new Date(t)).filter((l) => / task .* (FAILURE|KILL)\b/.test(l));
      const line = progressLine(counts, elapsedOf(view, t, since), output.columns(), view.state);
      if (failures.length > 0 || line !== drawn) {
        output.write(`\r\x1b[K${failures.map((f) => `${truncate(f, output.columns() - 1)}\n`).join("")}${line}`);
        drawn = line;
      }
      if (done) output.write("\n");
    } else {
      for (const l of changedLines(prev, view, new Date(t))) output.write(`${l}\n`);
    }
    prev = view;
    if (done) {
      output.write(`${summaryLine(view, counts, elapsedOf(view, t, since))}\n`);
      return view;
    }
    if (await sleep(opts.intervalMs ?? 500, opts.signal)) {
      if (output.isTTY) output.write("\n");
      return view;
    }
  }
}

/** Resolves true when aborted. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(false);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
