// View 3b: the YAML of a workflow in an editor that the server checks as you type
// (POST /projects/:project/workflow-checks, the same checks as a save) and that points at the
// field of each problem; saving creates the workflow or stores a new version (If-Match).

import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, enc } from "../api.ts";
import { ErrorBox, Loading } from "../components.tsx";
import { atLeast, useApi, useDebounced, useRole } from "../hooks.ts";
import { navigate } from "../router.ts";
import { lineOfPath, toYaml } from "../text.ts";
import type { WorkflowDetail } from "../types.ts";

const TEMPLATE = `name: my-workflow
description: ""
tasks:
  - name: extract
    type: shell
    script: echo extract
  - name: load
    type: shell
    script: echo load
    deps: [extract]
`;

export function EditorView({ project, name }: { project: string; name: string | null }) {
  const wf = useApi<WorkflowDetail>(name === null ? null : `/projects/${enc(project)}/workflows/${enc(name)}`);
  if (name !== null && wf.error) return <main><ErrorBox error={wf.error} /></main>;
  if (name !== null && !wf.data) return <main><Loading what="workflow" /></main>;
  const initial = wf.data ? toYaml(wf.data.definition) : TEMPLATE;
  return <Editor project={project} name={name} initial={initial} version={wf.data?.currentVersion ?? null} />;
}

type Check = { state: "idle" | "checking" } | { state: "valid"; tasks: number; warnings: string[] } | { state: "invalid"; error: unknown };

function Editor({ project, name, initial, version }: { project: string; name: string | null; initial: string; version: number | null }) {
  const role = useRole(project);
  const dev = atLeast(role, "developer");
  const [text, setText] = useState(initial);
  const [check, setCheck] = useState<Check>({ state: "idle" });
  const [saveError, setSaveError] = useState<unknown>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const debounced = useDebounced(text, 350);

  useEffect(() => {
    if (!dev) return;
    const ctl = new AbortController();
    setCheck({ state: "checking" });
    api<{ tasks: number; warnings: string[] }>("POST", `/projects/${enc(project)}/workflow-checks`, debounced, { yaml: true, signal: ctl.signal }).then(
      (r) => setCheck({ state: "valid", tasks: r.tasks, warnings: r.warnings }),
      (error) => !ctl.signal.aborted && setCheck({ state: "invalid", error }),
    );
    return () => ctl.abort();
  }, [debounced, dev]);

  const goTo = (line: number) => {
    const ta = area.current;
    if (!ta) return;
    const lines = ta.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    ta.focus();
    ta.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
    ta.scrollTop = Math.max(0, (line - 5) * 19);
  };

  const save = async () => {
    setSaveError(null);
    try {
      const saved = name === null
        ? await api<WorkflowDetail>("POST", `/projects/${enc(project)}/workflows`, text, { yaml: true })
        : await api<WorkflowDetail>("PUT", `/projects/${enc(project)}/workflows/${enc(name)}`, text, { yaml: true, headers: { "if-match": `"${version}"` } });
      navigate(`/projects/${enc(project)}/workflows/${enc(saved.name)}`);
    } catch (err) {
      setSaveError(err);
    }
  };

  const problems = check.state === "invalid" && check.error instanceof ApiError ? check.error.details : [];
  return (
    <main>
      <p class="crumbs"><a href="/">Projects</a> / <a href={`/projects/${enc(project)}`}>{project}</a> / {name ?? "new workflow"}</p>
      <h1>{name === null ? "New workflow" : `${name}: YAML`}{version !== null && <span class="muted"> (editing v{version})</span>}</h1>
      <div class="editor">
        <label>
          <span>Workflow definition (YAML)</span>
          <textarea
            ref={area}
            class="code"
            name="yaml"
            spellcheck={false}
            readOnly={!dev}
            aria-invalid={check.state === "invalid"}
            aria-describedby="check-status"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey) {
                // Two spaces, as YAML wants; Shift+Tab / Ctrl+Tab still leave the field.
                e.preventDefault();
                const ta = e.currentTarget;
                const { selectionStart: s, selectionEnd: t } = ta;
                setText(ta.value.slice(0, s) + "  " + ta.value.slice(t));
                requestAnimationFrame(() => ta.setSelectionRange(s + 2, s + 2));
              }
            }}
          />
        </label>
        <div id="check-status" aria-live="polite" data-testid="check-status" data-state={check.state}>
          {check.state === "checking" && <span class="muted">checking…</span>}
          {check.state === "valid" && (
            <span class="ok">✓ valid: {check.tasks} tasks{check.warnings.map((w) => <div key={w} class="muted">warning: {w}</div>)}</span>
          )}
          {check.state === "invalid" && (
            <>
              <ErrorBox error={check.error} />
              {problems.map((d) => {
                const line = lineOfPath(text, d.path);
                return line === null ? null : (
                  <button key={d.path} type="button" onClick={() => goTo(line)}>Go to line {line} ({d.path})</button>
                );
              })}
            </>
          )}
        </div>
        {dev && (
          <div class="row">
            <button class="primary" type="button" onClick={save} disabled={check.state !== "valid" || debounced !== text}>{name === null ? "Create workflow" : "Save new version"}</button>
            {!dev && <span class="muted">Viewers cannot save.</span>}
          </div>
        )}
        <ErrorBox error={saveError} />
      </div>
    </main>
  );
}
