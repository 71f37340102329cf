// View 6: a workflow's schedules — create and edit with the next fire times previewed as the
// Quartz cron and zone are typed (POST /schedules/preview), ONLINE/OFFLINE — and backfills
// with their progress.

import { useEffect, useState } from "preact/hooks";
import { api, enc } from "../api.ts";
import { ErrorBox, Field, Loading, StateBadge, when } from "../components.tsx";
import { atLeast, useApi, useDebounced, useRole } from "../hooks.ts";
import type { Page, Schedule } from "../types.ts";

interface Backfill { id: number; workflowId: number; state: string; runMode: string; total: number; created: number; succeeded: number; failed: number; createdAt: string }

export function SchedulesView({ project, name }: { project: string; name: string }) {
  const p = enc(project);
  const list = useApi<Page<Schedule>>(`/projects/${p}/workflows/${enc(name)}/schedules?limit=100`);
  const role = useRole(project);
  const dev = atLeast(role, "developer");
  const [editing, setEditing] = useState<Schedule | "new" | null>(null);
  const [error, setError] = useState<unknown>(null);
  const release = async (s: Schedule, state: "ONLINE" | "OFFLINE") => {
    setError(null);
    try {
      await api("POST", `/projects/${p}/schedules/${s.id}/release`, { state });
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <main>
      <p class="crumbs"><a href="/">Projects</a> / <a href={`/projects/${p}`}>{project}</a> / <a href={`/projects/${p}/workflows/${enc(name)}`}>{name}</a> / schedules</p>
      <h1>Schedules of {name}</h1>
      <ErrorBox error={list.error ?? error} />
      {list.loading && <Loading what="schedules" />}
      {list.data && (
        <table>
          <thead><tr><th>Id</th><th>Cron</th><th>Zone</th><th>State</th><th>Last fire</th><th></th></tr></thead>
          <tbody>
            {list.data.items.map((s) => (
              <tr key={s.id}>
                <td>{s.id}</td><td><code>{s.cron}</code></td><td>{s.timezone}</td><td>{s.releaseState}</td><td>{when(s.lastFireTime)}</td>
                <td class="row">
                  {dev && <button type="button" onClick={() => setEditing(s)}>Edit</button>}
                  {dev && (s.releaseState === "ONLINE" ? <button type="button" onClick={() => release(s, "OFFLINE")}>Take offline</button> : <button type="button" onClick={() => release(s, "ONLINE")}>Bring online</button>)}
                </td>
              </tr>
            ))}
            {list.data.items.length === 0 && <tr><td colSpan={6} class="muted">No schedules.</td></tr>}
          </tbody>
        </table>
      )}
      {dev && editing === null && <p><button type="button" class="primary" onClick={() => setEditing("new")}>New schedule</button></p>}
      {editing !== null && <ScheduleForm project={project} name={name} schedule={editing === "new" ? null : editing} onDone={() => (setEditing(null), list.reload())} />}
      <Backfills project={project} name={name} dev={dev} />
    </main>
  );
}

function ScheduleForm({ project, name, schedule, onDone }: { project: string; name: string; schedule: Schedule | null; onDone: () => void }) {
  const [cron, setCron] = useState(schedule?.cron ?? "0 0 3 * * ?");
  const [timezone, setTimezone] = useState(schedule?.timezone ?? "UTC");
  const [online, setOnline] = useState(schedule ? schedule.releaseState === "ONLINE" : false);
  const [catchup, setCatchup] = useState(schedule?.catchup ?? "none");
  const [preview, setPreview] = useState<{ fireTimes: string[] } | null>(null);
  const [previewError, setPreviewError] = useState<unknown>(null);
  const [error, setError] = useState<unknown>(null);
  const typed = useDebounced(`${cron}\n${timezone}`, 250);
  useEffect(() => {
    const ctl = new AbortController();
    const [c, z] = typed.split("\n");
    api<{ fireTimes: string[] }>("POST", "/schedules/preview", { cron: c, timezone: z, count: 5 }, { signal: ctl.signal }).then(
      (r) => (setPreview(r), setPreviewError(null)),
      (err) => !ctl.signal.aborted && (setPreview(null), setPreviewError(err)),
    );
    return () => ctl.abort();
  }, [typed]);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      if (schedule) await api("PUT", `/projects/${enc(project)}/schedules/${schedule.id}`, { cron, timezone, catchup });
      else await api("POST", `/projects/${enc(project)}/workflows/${enc(name)}/schedules`, { cron, timezone, catchup, releaseState: online ? "ONLINE" : "OFFLINE" });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="panel" onSubmit={save} aria-label="schedule editor">
      <h2 style="margin-top:0">{schedule ? `Edit schedule ${schedule.id}` : "New schedule"}</h2>
      <div class="row">
        <Field label="Cron (Quartz: sec min hour day month weekday [year], or Unix 5 fields)"><input name="cron" value={cron} onInput={(e) => setCron(e.currentTarget.value)} size={28} /></Field>
        <Field label="Time zone (IANA)"><input name="timezone" value={timezone} onInput={(e) => setTimezone(e.currentTarget.value)} /></Field>
        <Field label="Missed fires"><select name="catchup" value={catchup} onChange={(e) => setCatchup(e.currentTarget.value)}><option value="none">skip</option><option value="latest">run the latest</option><option value="all">run all</option></select></Field>
      </div>
      {!schedule && <label class="row"><input type="checkbox" checked={online} onChange={(e) => setOnline(e.currentTarget.checked)} /> Online at once</label>}
      <div aria-live="polite" data-testid="preview">
        {preview && (
          <>
            <span class="muted">Next fire times ({timezone}):</span>
            <ol>{preview.fireTimes.map((t) => <li key={t}><time dateTime={t}>{t}</time> <span class="muted">{zoned(t, timezone)}</span></li>)}</ol>
          </>
        )}
        <ErrorBox error={previewError} />
      </div>
      <ErrorBox error={error} />
      <div class="row"><button class="primary" type="submit">{schedule ? "Save" : "Create"}</button><button type="button" onClick={onDone}>Cancel</button></div>
    </form>
  );
}

function zoned(iso: string, timezone: string): string {
  try {
    return new Date(iso).toLocaleString("sv-SE", { timeZone: timezone, timeZoneName: "short" });
  } catch {
    return "";
  }
}

function Backfills({ project, name, dev }: { project: string; name: string; dev: boolean }) {
  const p = enc(project);
  const list = useApi<{ items: Backfill[] }>(`/projects/${p}/backfills`);
  const wf = useApi<{ id: number }>(`/projects/${p}/workflows/${enc(name)}`);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [runMode, setRunMode] = useState("serial");
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const t = setInterval(() => list.data?.items.some((b) => b.state === "RUNNING") && list.reload(), 2000);
    return () => clearInterval(t);
  }, [list.data]);
  const start = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api("POST", `/projects/${p}/workflows/${enc(name)}/backfill`, { from, to, runMode });
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const mine = list.data?.items.filter((b) => b.workflowId === wf.data?.id) ?? [];
  return (
    <section>
      <h2>Backfills</h2>
      {dev && (
        <form class="row" onSubmit={start} aria-label="backfill">
          <Field label="From (date)"><input name="from" type="date" required value={from} onInput={(e) => setFrom(e.currentTarget.value)} /></Field>
          <Field label="To (date)"><input name="to" type="date" required value={to} onInput={(e) => setTo(e.currentTarget.value)} /></Field>
          <Field label="Runs"><select value={runMode} onChange={(e) => setRunMode(e.currentTarget.value)}><option value="serial">one after another</option><option value="parallel">in parallel</option></select></Field>
          <button type="submit">Start backfill</button>
        </form>
      )}
      <ErrorBox error={error ?? list.error} />
      {mine.length === 0 ? <p class="muted">No backfills of this workflow.</p> : (
        <table>
          <thead><tr><th>Id</th><th>State</th><th>Progress</th><th>Created</th></tr></thead>
          <tbody>
            {mine.map((b) => (
              <tr key={b.id}>
                <td>{b.id}</td><td><StateBadge state={b.state} /></td>
                <td><progress max={b.total} value={b.succeeded + b.failed} aria-label={`backfill ${b.id} progress`} /> {b.succeeded} ok, {b.failed} failed of {b.total} ({b.created} started)</td>
                <td>{when(b.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
