// View 3: a workflow — its DAG (always auto-laid-out), versions with a diff between two,
// release ONLINE/OFFLINE, and the run dialog. The YAML editor is editor.tsx.

import { useEffect, useState } from "preact/hooks";
import { api, enc } from "../api.ts";
import { ErrorBox, Field, Loading, StateBadge, when } from "../components.tsx";
import { Dag, warmLayoutWorker } from "../dag.tsx";
import { atLeast, useApi, useRole } from "../hooks.ts";
import { navigate } from "../router.ts";
import { lineDiff, toYaml } from "../text.ts";
import type { Definition, Instance, Page, VersionSummary, WorkflowDetail } from "../types.ts";

export function WorkflowView({ project, name }: { project: string; name: string }) {
  const base = `/projects/${enc(project)}/workflows/${enc(name)}`;
  const wf = useApi<WorkflowDetail>(base);
  useEffect(warmLayoutWorker, []);
  const runs = useApi<Page<Instance>>(`/projects/${enc(project)}/workflow-instances?workflow=${enc(name)}&limit=10`);
  const role = useRole(project);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const release = async (state: "ONLINE" | "OFFLINE") => {
    setError(null);
    try {
      await api("POST", `${base}/release`, { state });
      wf.reload();
    } catch (err) {
      setError(err);
    }
  };
  if (wf.error) return <main><ErrorBox error={wf.error} /></main>;
  if (!wf.data) return <main><Loading what="workflow" /></main>;
  const w = wf.data;
  const dev = atLeast(role, "developer");
  return (
    <main>
      <p class="crumbs"><a href="/">Projects</a> / <a href={`/projects/${enc(project)}`}>{project}</a> / {name}</p>
      <h1>{name} <span class="muted">v{w.currentVersion} · {w.releaseState}</span></h1>
      <div class="row">
        {dev && <button class="primary" type="button" onClick={() => setRunning(true)} disabled={w.releaseState !== "ONLINE"} title={w.releaseState !== "ONLINE" ? "bring it ONLINE to run it" : ""}>Run…</button>}
        {dev && (w.releaseState === "ONLINE"
          ? <button type="button" onClick={() => release("OFFLINE")}>Take offline</button>
          : <button type="button" onClick={() => release("ONLINE")}>Bring online</button>)}
        <a class="button" href={`${base}/edit`}>{dev ? "Edit YAML" : "YAML"}</a>
        <a class="button" href={`/projects/${enc(project)}/workflows/${enc(name)}/grid`}>Grid</a>
        <a class="button" href={`/projects/${enc(project)}/workflows/${enc(name)}/schedules`}>Schedules</a>
      </div>
      <ErrorBox error={error} />
      {running && <RunDialog project={project} name={name} definition={w.definition} onClose={() => setRunning(false)} />}
      <h2>DAG</h2>
      <Dag layoutKey={`${w.id}:${w.currentVersion}`} definition={w.definition} label={`DAG of workflow ${name}, version ${w.currentVersion}`} />
      <div class="cols">
        <section>
          <h2>Recent runs</h2>
          {runs.data && (
            <table>
              <thead><tr><th>Run</th><th>State</th><th>Created</th><th>Version</th></tr></thead>
              <tbody>
                {runs.data.items.map((r) => (
                  <tr key={r.id}><td><a href={`/projects/${enc(project)}/runs/${r.id}`}>#{r.id}</a></td><td><StateBadge state={r.state} /></td><td>{when(r.createdAt)}</td><td>{r.workflowVersion}</td></tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section>
          <h2>Versions</h2>
          <Versions base={base} latest={w.latestVersion} current={w.currentVersion} />
        </section>
      </div>
    </main>
  );
}

function Versions({ base, latest, current }: { base: string; latest: number; current: number }) {
  const versions = useApi<Page<VersionSummary>>(`${base}/versions?limit=100`);
  const [a, setA] = useState(Math.max(1, current - 1));
  const [b, setB] = useState(current);
  const [diff, setDiff] = useState<ReturnType<typeof lineDiff> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const show = async () => {
    setError(null);
    try {
      const [va, vb] = await Promise.all([a, b].map((v) => api<{ definition: Definition }>("GET", `${base}/versions/${v}`)));
      setDiff(lineDiff(toYaml(va!.definition), toYaml(vb!.definition)));
    } catch (err) {
      setError(err);
    }
  };
  const options = Array.from({ length: latest }, (_, i) => latest - i);
  return (
    <div>
      {versions.data && (
        <ul>
          {versions.data.items.map((v) => <li key={v.version}>v{v.version}{v.version === current ? " (current)" : ""} <span class="muted">{when(v.createdAt)}</span></li>)}
        </ul>
      )}
      <div class="row">
        <Field label="From"><select value={a} onChange={(e) => setA(Number(e.currentTarget.value))}>{options.map((v) => <option key={v} value={v}>v{v}</option>)}</select></Field>
        <Field label="To"><select value={b} onChange={(e) => setB(Number(e.currentTarget.value))}>{options.map((v) => <option key={v} value={v}>v{v}</option>)}</select></Field>
        <button type="button" onClick={show}>Diff</button>
      </div>
      <ErrorBox error={error} />
      {diff && (
        <pre class="code log diff" aria-label={`changes from v${a} to v${b}`}>
          {diff.map((l, i) => <div key={i} class={l.kind}>{l.kind === "add" ? "+ " : l.kind === "del" ? "- " : "  "}{l.text}</div>)}
        </pre>
      )}
    </div>
  );
}

function RunDialog({ project, name, definition, onClose }: { project: string; name: string; definition: Definition; onClose: () => void }) {
  const [params, setParams] = useState("");
  const [startTasks, setStartTasks] = useState<string[]>([]);
  const [dependType, setDependType] = useState("TASK_POST");
  const [failureStrategy, setFailureStrategy] = useState("END");
  const [dryRun, setDryRun] = useState(false);
  const [priority, setPriority] = useState("MEDIUM");
  const [workerGroup, setWorkerGroup] = useState("");
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const p: Record<string, string> = {};
    for (const line of params.split("\n")) {
      const i = line.indexOf("=");
      if (line.trim() !== "" && i > 0) p[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    const body: Record<string, unknown> = { failureStrategy, dryRun, priority };
    if (Object.keys(p).length > 0) body.params = p;
    if (startTasks.length > 0) Object.assign(body, { startTasks, dependType });
    if (workerGroup.trim()) body.workerGroup = workerGroup.trim();
    try {
      const r = await api<{ id: number }>("POST", `/projects/${enc(project)}/workflows/${enc(name)}/run`, body);
      navigate(`/projects/${enc(project)}/runs/${r.id}`);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="panel" onSubmit={submit} aria-label="run dialog" style="margin:.5rem 0">
      <h2 style="margin-top:0">Run {name}</h2>
      <Field label="Parameters (one name=value a line)"><textarea name="params" rows={3} value={params} onInput={(e) => setParams(e.currentTarget.value)} /></Field>
      <Field label="Start from tasks (none: the whole DAG)">
        <select name="startTasks" multiple size={Math.min(6, definition.tasks.length)} onChange={(e) => setStartTasks([...e.currentTarget.selectedOptions].map((o) => o.value))}>
          {definition.tasks.map((t) => <option key={t.name} value={t.name}>{t.name}</option>)}
        </select>
      </Field>
      <div class="row">
        <Field label="With start tasks"><select name="dependType" value={dependType} onChange={(e) => setDependType(e.currentTarget.value)}>
          <option value="TASK_ONLY">only them (TASK_ONLY)</option><option value="TASK_PRE">and what they need (TASK_PRE)</option><option value="TASK_POST">and what follows (TASK_POST)</option>
        </select></Field>
        <Field label="On failure"><select name="failureStrategy" value={failureStrategy} onChange={(e) => setFailureStrategy(e.currentTarget.value)}><option value="END">end the run</option><option value="CONTINUE">continue other branches</option></select></Field>
        <Field label="Priority"><select name="priority" value={priority} onChange={(e) => setPriority(e.currentTarget.value)}>{["HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST"].map((x) => <option key={x}>{x}</option>)}</select></Field>
        <Field label="Worker group"><input name="workerGroup" placeholder="default" value={workerGroup} onInput={(e) => setWorkerGroup(e.currentTarget.value)} /></Field>
      </div>
      <label class="row"><input type="checkbox" name="dryRun" checked={dryRun} onChange={(e) => setDryRun(e.currentTarget.checked)} /> Dry run (tasks do not execute)</label>
      <ErrorBox error={error} />
      <div class="row"><button class="primary" type="submit">Start run</button><button type="button" onClick={onClose}>Cancel</button></div>
    </form>
  );
}
