// View 2: a project's workflows with the state dots of their last runs, its schedules, and its
// recent failures. Run states arrive live (GET /projects/:project/events).

import { useEffect, useState } from "preact/hooks";
import { api, enc } from "../api.ts";
import { ErrorBox, Loading, StateBadge, StateDot, when } from "../components.tsx";
import { atLeast, useApi, useRole, useStream } from "../hooks.ts";
import type { Instance, Page, Schedule, Workflow } from "../types.ts";

export function ProjectView({ project }: { project: string }) {
  const p = enc(project);
  const workflows = useApi<Page<Workflow>>(`/projects/${p}/workflows?limit=500`);
  const role = useRole(project);
  const [runs, setRuns] = useState(new Map<number, Instance>());
  const live = useStream(`/projects/${p}/events`, (e) => {
    if (e.event !== "instance") return;
    const wi = JSON.parse(e.data) as Instance;
    setRuns((m) => new Map(m).set(wi.id, wi));
  });
  // The stream follows the project's newest 100 runs; a workflow whose last runs are older than
  // those gets its own last 12 once (at most 50 workflows: one small read each).
  useEffect(() => {
    if (!workflows.data) return;
    const ctl = new AbortController();
    for (const w of workflows.data.items.slice(0, 50)) {
      api<Page<Instance>>("GET", `/projects/${p}/workflow-instances?workflow=${enc(w.name)}&limit=12`, undefined, { signal: ctl.signal }).then(
        (page) => setRuns((m) => {
          const next = new Map(m);
          for (const wi of page.items) if (!next.has(wi.id)) next.set(wi.id, wi);
          return next;
        }),
        () => {},
      );
    }
    return () => ctl.abort();
  }, [workflows.data]);
  const all = [...runs.values()].sort((a, b) => b.id - a.id);
  const failures = all.filter((r) => r.state === "FAILURE").slice(0, 10);

  return (
    <main>
      <p class="crumbs"><a href="/">Projects</a> / {project}</p>
      <h1>{project}</h1>
      <div class="row">
        {atLeast(role, "developer") && <a class="button" href={`/projects/${p}/new-workflow`}>New workflow</a>}
        <a class="button" href={`/projects/${p}/settings`}>Parameters, members, datasources, audit</a>
        <span class="muted" aria-live="polite">{live ? "live" : "connecting…"}</span>
      </div>
      <h2>Workflows</h2>
      <ErrorBox error={workflows.error} />
      {workflows.loading && <Loading what="workflows" />}
      {workflows.data && (
        <table>
          <thead><tr><th>Workflow</th><th>Release</th><th>Version</th><th>Last runs (newest first)</th><th></th></tr></thead>
          <tbody>
            {workflows.data.items.map((w) => (
              <tr key={w.id}>
                <td><a href={`/projects/${p}/workflows/${enc(w.name)}`}>{w.name}</a></td>
                <td>{w.releaseState}</td>
                <td>{w.currentVersion}</td>
                <td data-testid={`runs-${w.name}`}>
                  {all.filter((r) => r.workflowName === w.name).slice(0, 12).map((r) => (
                    <a key={r.id} href={`/projects/${p}/runs/${r.id}`} aria-label={`run ${r.id}: ${r.state}`}><StateDot state={r.state} title={`#${r.id} ${r.state}`} /></a>
                  ))}
                </td>
                <td><a href={`/projects/${p}/workflows/${enc(w.name)}/grid`}>grid</a></td>
              </tr>
            ))}
            {workflows.data.items.length === 0 && <tr><td colSpan={5} class="muted">No workflows yet.</td></tr>}
          </tbody>
        </table>
      )}
      <div class="cols">
        <section>
          <h2>Schedules</h2>
          {workflows.data && <ProjectSchedules project={project} workflows={workflows.data.items} />}
        </section>
        <section>
          <h2>Recent failures</h2>
          {failures.length === 0 ? <p class="muted">None among the last 100 runs.</p> : (
            <ul>
              {failures.map((r) => (
                <li key={r.id}><a href={`/projects/${p}/runs/${r.id}`}>#{r.id} {r.workflowName}</a> <StateBadge state={r.state} /> <span class="muted">{when(r.endTime)}</span></li>
              ))}
            </ul>
          )}
        </section>
      </div>
    </main>
  );
}

function ProjectSchedules({ project, workflows }: { project: string; workflows: Workflow[] }) {
  const [rows, setRows] = useState<{ wf: string; s: Schedule }[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const ctl = new AbortController();
    Promise.all(
      workflows.slice(0, 100).map((w) =>
        api<Page<Schedule>>("GET", `/projects/${enc(project)}/workflows/${enc(w.name)}/schedules?limit=100`, undefined, { signal: ctl.signal }).then((pg) => pg.items.map((s) => ({ wf: w.name, s }))),
      ),
    ).then((all) => setRows(all.flat()), (e) => !ctl.signal.aborted && setError(e));
    return () => ctl.abort();
  }, [workflows]);
  if (error) return <ErrorBox error={error} />;
  if (!rows) return <Loading what="schedules" />;
  if (rows.length === 0) return <p class="muted">No schedules. Open a workflow to add one.</p>;
  return (
    <table>
      <thead><tr><th>Workflow</th><th>Cron</th><th>Zone</th><th>State</th></tr></thead>
      <tbody>
        {rows.map(({ wf, s }) => (
          <tr key={s.id}>
            <td><a href={`/projects/${enc(project)}/workflows/${enc(wf)}/schedules`}>{wf}</a></td>
            <td><code>{s.cron}</code></td><td>{s.timezone}</td><td>{s.releaseState}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
