// View 5: one run — the DAG coloured live by state, a Gantt of attempts (queue wait and run
// time), the attempts with params and OUT params, the log viewer (live follow, download), and
// the controls its role allows (developer and up; the API refuses the rest anyway).

import { useEffect, useMemo, useState } from "preact/hooks";
import { controlFits, WORKFLOW_CONTROLS, type WorkflowControl } from "../../core/states.ts";
import { api, enc } from "../api.ts";
import { ErrorBox, Loading, StateBadge, duration, stateColour, when } from "../components.tsx";
import { Dag, warmLayoutWorker } from "../dag.tsx";
import { atLeast, useApi, useRole, useStream } from "../hooks.ts";
import type { Definition, Instance, InstanceDetail, Task } from "../types.ts";
import { LogViewer } from "./log-viewer.tsx";

const ACTIVE = new Set(["SUBMITTED_SUCCESS", "DELAY_EXECUTION", "DISPATCH", "RUNNING_EXECUTION"]);

export function RunView({ project, id, task }: { project: string; id: number; task: number | null }) {
  const detail = useApi<InstanceDetail>(`/workflow-instances/${id}`);
  useEffect(warmLayoutWorker, []);
  const [instance, setInstance] = useState<Instance | null>(null);
  const [tasks, setTasks] = useState(new Map<number, Task>());
  const [selected, setSelected] = useState<number | null>(task);
  const [error, setError] = useState<unknown>(null);
  const role = useRole(project);
  const live = useStream(`/workflow-instances/${id}/events`, (e) => {
    if (e.event === "instance") setInstance(JSON.parse(e.data) as Instance);
    else if (e.event === "task") {
      const t = JSON.parse(e.data) as Task;
      setTasks((m) => new Map(m).set(t.id, t));
    }
  });
  const wi = instance ?? detail.data;
  const def = useApi<{ definition: Definition }>(wi ? `/projects/${enc(project)}/workflows/${enc(wi.workflowName)}/versions/${wi.workflowVersion}` : null);

  const attempts = useMemo(() => {
    const m = new Map<number, Task>();
    for (const t of detail.data?.tasks ?? []) m.set(t.id, t);
    for (const t of tasks.values()) m.set(t.id, t);
    return [...m.values()].sort((a, b) => a.id - b.id);
  }, [detail.data, tasks]);
  const states = useMemo(() => {
    const out: Record<string, string> = {};
    for (const t of attempts) if (!t.superseded || !(t.taskName in out)) out[t.taskName] = t.state;
    return out;
  }, [attempts]);

  if (detail.error) return <main><ErrorBox error={detail.error} /></main>;
  if (!wi) return <main><Loading what={`run ${id}`} /></main>;
  const dev = atLeast(role, "developer");
  const control = async (path: string) => {
    setError(null);
    try {
      await api("POST", path);
    } catch (err) {
      setError(err);
    }
  };
  const sel = attempts.find((t) => t.id === selected) ?? null;
  return (
    <main>
      <p class="crumbs"><a href="/">Projects</a> / <a href={`/projects/${enc(project)}`}>{project}</a> / <a href={`/projects/${enc(project)}/workflows/${enc(wi.workflowName)}`}>{wi.workflowName}</a> / run #{id}</p>
      <h1>Run #{id} <StateBadge state={wi.state} /> <span class="muted" aria-live="polite" style="font-size:.8rem">{live ? "live" : "connecting…"}</span></h1>
      <p class="muted">v{wi.workflowVersion} · {wi.runType}{wi.dryRun ? " · dry run" : ""} · started {when(wi.startTime)} · {duration(wi.startTime, wi.endTime)}{wi.message ? ` · ${wi.message}` : ""}</p>
      {dev && (
        <div class="row" role="toolbar" aria-label="run controls" data-testid="run-controls">
          {WORKFLOW_CONTROLS.filter((c: WorkflowControl) => controlFits(c, wi.state)).map((c) => (
            <button key={c} type="button" class={c === "stop" ? "danger" : ""} onClick={() => control(`/workflow-instances/${id}/${c}`)}>{c}</button>
          ))}
        </div>
      )}
      <ErrorBox error={error} />
      <h2>DAG</h2>
      {def.data ? (
        <Dag
          layoutKey={`${wi.workflowId}:${wi.workflowVersion}`}
          definition={def.data.definition}
          states={states}
          selected={sel?.taskName ?? null}
          onSelect={(name) => setSelected([...attempts].reverse().find((t) => t.taskName === name)?.id ?? null)}
          label={`DAG of run ${id}, coloured by task state`}
        />
      ) : <ErrorBox error={def.error} />}
      <h2>Gantt</h2>
      <Gantt attempts={attempts} />
      <h2>Attempts</h2>
      <table>
        <thead><tr><th>Task</th><th>Attempt</th><th>State</th><th>Host</th><th>Started</th><th>Took</th><th>Exit</th><th>Params / OUT</th><th></th></tr></thead>
        <tbody>
          {attempts.map((t) => (
            <tr key={t.id} data-task={t.taskName} class={t.superseded ? "muted" : ""}>
              <td><button type="button" onClick={() => setSelected(t.id)} aria-pressed={selected === t.id}>{t.taskName}</button></td>
              <td>{t.attempt}</td><td><StateBadge state={t.state} /></td><td>{t.host ?? "–"}</td>
              <td>{when(t.startTime)}</td><td>{duration(t.startTime, t.endTime)}</td><td>{t.exitCode ?? "–"}</td>
              <td>
                <details><summary>{Object.keys(t.params).length} params{t.outParams ? `, ${Object.keys(t.outParams).length} OUT` : ""}</summary>
                  <pre class="code">{JSON.stringify({ params: t.params, out: t.outParams }, null, 2)}</pre>
                </details>
              </td>
              <td>
                {dev && ACTIVE.has(t.state) && <button type="button" class="danger" onClick={() => control(`/task-instances/${t.id}/kill`)}>kill</button>}
                {dev && (t.state === "FAILURE" || t.state === "KILL") && <button type="button" onClick={() => control(`/task-instances/${t.id}/force-success`)}>force success</button>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {sel && <LogViewer key={sel.id} task={sel} />}
    </main>
  );
}

function Gantt({ attempts }: { attempts: Task[] }) {
  const rows = attempts.filter((t) => t.submitTime || t.startTime);
  if (rows.length === 0) return <p class="muted">No attempt has been queued yet.</p>;
  const t0 = Math.min(...rows.map((t) => Date.parse(t.submitTime ?? t.startTime!)));
  const t1 = Math.max(...rows.map((t) => (t.endTime ? Date.parse(t.endTime) : Date.now())), t0 + 1);
  const W = 1000;
  const x = (iso: string | null) => ((iso ? Date.parse(iso) : Date.now()) - t0) / (t1 - t0) * (W - 200) + 200;
  return (
    <svg class="gantt" viewBox={`0 0 ${W} ${rows.length * 18 + 20}`} role="img" aria-label={`Gantt of ${rows.length} attempts over ${duration(new Date(t0).toISOString(), new Date(t1).toISOString())}`}>
      {rows.map((t, i) => {
        const y = i * 18 + 4;
        const q = x(t.submitTime ?? t.startTime);
        const s = t.startTime ? x(t.startTime) : x(null);
        const e = x(t.endTime);
        return (
          <g key={t.id}>
            <text x={0} y={y + 11}>{t.taskName.slice(0, 26)}{t.attempt > 1 ? ` #${t.attempt}` : ""}</text>
            <rect class="wait" x={q} y={y} width={Math.max(0.5, s - q)} height={14}><title>queued {duration(t.submitTime, t.startTime)}</title></rect>
            {t.startTime && <rect style={`fill:${stateColour(t.state)}`} x={s} y={y} width={Math.max(1, e - s)} height={14}><title>{t.state}: ran {duration(t.startTime, t.endTime)}</title></rect>}
          </g>
        );
      })}
      <text x={W - 4} y={rows.length * 18 + 16} text-anchor="end">{duration(new Date(t0).toISOString(), new Date(t1).toISOString())}</text>
    </svg>
  );
}
