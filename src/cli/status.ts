// `porpoise status ID`: one workflow instance, its state and a table of its task attempts.
// renderStatus is pure (tested with fixed views); statusCommand fetches, prints and answers
// with an exit code a script can branch on.

import type { ApiClient, InstanceView } from "./client.ts";
import { countProgress, displayWidth, elapsedOf, formatDuration, formatElapsed, isInstanceEnded, notRunText } from "./progress.ts";

function stamp(iso: string | null | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

const sanitize = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => displayWidth(r[i] ?? "")))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - displayWidth(cell)))).join("  ").trimEnd());
}

export function renderStatus(view: InstanceView, nowMs: number): string[] {
  const c = countProgress(view);
  // workflowName is new in the API: an older server gives the id only.
  const named = view.workflowName !== undefined ? sanitize(view.workflowName) : view.workflowId !== undefined ? `#${view.workflowId}` : null;
  const workflow = named === null ? "" : ` · workflow ${named} v${view.workflowVersion ?? "?"}`;
  const project = view.project === undefined ? "" : ` · project ${sanitize(view.project)}`;
  const lines = [
    `workflow instance ${view.id} ${view.state}${workflow}${project}`,
    `started ${stamp(view.startTime)} · ended ${stamp(view.endTime)} · ${view.startTime ? formatElapsed(elapsedOf(view, nowMs, nowMs)) : "not started"}`,
    view.taskCount == null
      ? `tasks: ${c.done} done · ${c.running} running · ${c.failed} failed (of ${c.total} started)`
      : `tasks: ${c.done}/${c.total} done${notRunText(c, view.state)} · ${c.running} running · ${c.failed} failed`,
  ];
  const params = Object.entries(view.params ?? {});
  if (params.length > 0) lines.push(`params: ${params.map(([k, v]) => `${k}=${sanitize(v)}`).join(" ")}`);
  if (view.timezone !== undefined && view.timezone !== "UTC") lines.push(`timezone: ${sanitize(view.timezone)}`);
  if (view.message) lines.push(`message: ${sanitize(view.message)}`);
  if (view.tasks.length === 0) return [...lines, "", "no task has started yet"];
  // The server lists attempts in DAG order (a task after its deps, attempts oldest first): kept.
  const sorted = view.tasks;
  const rows = [["TASK_INSTANCE_ID", "TASK", "ATTEMPT", "STATE", "DURATION", "MESSAGE"]];
  for (const t of sorted) {
    const start = t.startTime ? new Date(t.startTime).getTime() : null;
    const end = t.endTime ? new Date(t.endTime).getTime() : nowMs;
    rows.push([
      String(t.id),
      sanitize(t.taskName),
      String(t.attempt),
      t.state,
      start === null ? "-" : formatDuration(end - start),
      sanitize([t.message, t.warning ? `warning: ${t.warning}` : null].filter(Boolean).join("; ")).slice(0, 160),
    ]);
  }
  return [...lines, "", ...table(rows)];
}

/** Exit codes (in `porpoise status --help`): 0 SUCCESS; 1 ended otherwise (FAILURE, STOP, PAUSE); 3 not ended yet. */
export function statusExitCode(state: string): number {
  if (state === "SUCCESS") return 0;
  // 3, not 0, while it runs: `porpoise status ID && deploy` must not pass before the end.
  return isInstanceEnded(state) ? 1 : 3;
}

export async function statusCommand(deps: { api: ApiClient; id: number; out: (line: string) => void; now?: () => number }): Promise<number> {
  const view = await deps.api.instance(deps.id);
  for (const line of renderStatus(view, (deps.now ?? Date.now)())) deps.out(line);
  return statusExitCode(view.state);
}
