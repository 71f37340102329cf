// View 4: the grid of runs × tasks (Airflow's main view). Pages of 100 runs come from the server
// (GET …/workflows/:name/grid) as they scroll into view, only the rows on screen are rendered,
// and a run that changes (project events stream) is read again alone, not the page.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, enc } from "../api.ts";
import { ErrorBox, Loading, StateDot, stateColour, when } from "../components.tsx";
import { useStream } from "../hooks.ts";
import { navigate } from "../router.ts";
import type { GridCell, GridPage, GridRun, InstanceDetail } from "../types.ts";

const PAGE = 100;
const ROW = 24;
const OVERSCAN = 10;

export function GridView({ project, name }: { project: string; name: string }) {
  const base = `/projects/${enc(project)}/workflows/${enc(name)}/grid`;
  const [tasks, setTasks] = useState<string[] | null>(null);
  const [total, setTotal] = useState(0);
  const [pages, setPages] = useState(new Map<number, GridRun[]>());
  const [error, setError] = useState<unknown>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(560);
  const wrap = useRef<HTMLDivElement>(null);
  const loading = useRef(new Set<number>());
  const changed = useRef(new Set<number>());

  const loadPage = async (p: number) => {
    if (loading.current.has(p)) return;
    loading.current.add(p);
    try {
      const page = await api<GridPage>("GET", `${base}?limit=${PAGE}&offset=${p * PAGE}`);
      setTasks((t) => t ?? page.tasks);
      setTotal(page.total);
      setPages((m) => new Map(m).set(p, page.runs));
    } catch (err) {
      setError(err);
    } finally {
      loading.current.delete(p);
    }
  };
  useEffect(() => void loadPage(0), [base]);

  const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
  const last = Math.min(total, Math.ceil((top + height) / ROW) + OVERSCAN);
  useEffect(() => {
    for (let p = Math.floor(first / PAGE); p <= Math.floor(Math.max(first, last - 1) / PAGE); p++) if (!pages.has(p) && p * PAGE < total) void loadPage(p);
  }, [first, last, total]);

  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, [tasks !== null]);

  // Live: remember which runs changed; once a second read those alone (a new run: the first page).
  useStream(`/projects/${enc(project)}/events?workflow=${enc(name)}`, (e) => {
    if (e.event === "instance") changed.current.add((JSON.parse(e.data) as { id: number }).id);
  });
  useEffect(() => {
    const t = setInterval(() => {
      if (changed.current.size === 0) return;
      const ids = [...changed.current];
      changed.current.clear();
      setPages((m) => {
        const known = new Map<number, [number, number]>();
        for (const [p, runs] of m) runs.forEach((r, i) => known.set(r.id, [p, i]));
        const newest = m.get(0)?.[0]?.id ?? 0;
        if (ids.some((id) => !known.has(id) && id > newest)) void loadPage(0);
        for (const id of ids) {
          const at = known.get(id);
          if (at) void refreshRun(id).then((run) => setPages((mm) => {
            const rows = mm.get(at[0]);
            if (!rows || rows[at[1]]?.id !== id) return mm;
            const copy = rows.slice();
            copy[at[1]] = run;
            return new Map(mm).set(at[0], copy);
          }));
        }
        return m;
      });
    }, 1000);
    return () => clearInterval(t);
  }, [base]);

  if (error) return <main><ErrorBox error={error} /></main>;
  if (tasks === null) return <main><Loading what="grid" /></main>;
  const rows: { i: number; run: GridRun | undefined }[] = [];
  for (let i = first; i < last; i++) rows.push({ i, run: pages.get(Math.floor(i / PAGE))?.[i % PAGE] });
  const width = 180 + tasks.length * 22;
  return (
    <main>
      <p class="crumbs"><a href="/">Projects</a> / <a href={`/projects/${enc(project)}`}>{project}</a> / <a href={`/projects/${enc(project)}/workflows/${enc(name)}`}>{name}</a> / grid</p>
      <h1>{name}: {total} runs × {tasks.length} tasks</h1>
      <div class="grid-wrap" ref={wrap} onScroll={(e) => setTop(e.currentTarget.scrollTop)} data-testid="grid" role="grid" aria-rowcount={total + 1} aria-colcount={tasks.length + 1}>
        <div class="grid-head" style={`width:${width}px`} role="row">
          <div class="runlabel" role="columnheader" style="height:120px;display:flex;align-items:end">run</div>
          {tasks.map((t) => <div key={t} class="th" role="columnheader" title={t}>{t}</div>)}
        </div>
        <div style={`height:${total * ROW}px;width:${width}px;position:relative`}>
          {rows.map(({ i, run }) => (
            <div key={i} class="grid-row" style={`top:${i * ROW}px`} role="row" aria-rowindex={i + 2}>
              <div class="runlabel" role="rowheader">
                {run ? <a href={`/projects/${enc(project)}/runs/${run.id}`}><StateDot state={run.state} /> #{run.id} <span class="muted">{when(run.createdAt)}</span></a> : <span class="muted">…</span>}
              </div>
              {run && tasks.map((t) => {
                const c = run.cells[t];
                return (
                  <div key={t} class="cell" role="gridcell">
                    {c && <button type="button" style={`background:${stateColour(c.state)}`} title={`${t}: ${c.state} (attempt ${c.attempt})`} aria-label={`run ${run.id} task ${t}: ${c.state}`} data-state={c.state}
                      onClick={() => navigate(`/projects/${enc(project)}/runs/${run.id}?task=${c.taskInstanceId}`)} />}
                  </div>
                );
              })}
            </div>
          ))}
        </div>
      </div>
    </main>
  );
}

async function refreshRun(id: number): Promise<GridRun> {
  const d = await api<InstanceDetail>("GET", `/workflow-instances/${id}`);
  const cells: Record<string, GridCell> = {};
  for (const t of d.tasks) {
    const had = cells[t.taskName];
    if ((t.superseded && had) || (had && had.attempt > t.attempt)) continue;
    cells[t.taskName] = { taskInstanceId: t.id, state: t.state, attempt: t.attempt, startTime: t.startTime, endTime: t.endTime };
  }
  return { id: d.id, state: d.state, workflowVersion: d.workflowVersion, createdAt: d.createdAt, startTime: d.startTime, endTime: d.endTime, cells };
}
