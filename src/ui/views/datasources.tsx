// A project's datasources on its settings page: the list, add, edit and delete (developer and up;
// the API refuses the others anyway). The password is write-only: the API never returns it, an
// empty password field on edit leaves it out of the PUT (the stored one is kept), and removing it
// is an explicit checkbox (sends null).

import { useState } from "preact/hooks";
import { api, enc } from "../api.ts";
import { ErrorBox, Field } from "../components.tsx";
import type { Page } from "../types.ts";
import { useApi } from "../hooks.ts";

export interface Datasource {
  id: number;
  name: string;
  type: string;
  host: string;
  port: number;
  database: string;
  user: string;
  hasPassword: boolean;
  params: Record<string, string>;
  description: string;
}

export function DatasourcesSection({ project, canEdit }: { project: string; canEdit: boolean }) {
  const p = enc(project);
  const list = useApi<Page<Datasource>>(`/projects/${p}/datasources?limit=500`);
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const current = list.data?.items.find((d) => d.name === editing) ?? null;
  const remove = (d: Datasource) => {
    setError(null);
    api("DELETE", `/projects/${p}/datasources/${enc(d.name)}`).then(list.reload, setError);
  };
  return (
    <>
      <h2>Datasources</h2>
      <ErrorBox error={list.error} />
      <ErrorBox error={error} />
      {list.data && (
        <table>
          <thead><tr><th>Name</th><th>Type</th><th>Where</th><th>User</th><th></th></tr></thead>
          <tbody>{list.data.items.map((d) => (
            <tr key={d.id} data-datasource={d.name}>
              <td>{d.name}</td><td>{d.type}</td><td>{d.host}:{d.port}/{d.database}</td><td>{d.user}{d.hasPassword ? " (password set)" : ""}</td>
              <td>{canEdit && (
                <div class="row">
                  <button type="button" aria-label={`Edit datasource ${d.name}`} aria-expanded={editing === d.name} onClick={() => setEditing(editing === d.name ? null : d.name)}>Edit</button>
                  <button type="button" class="danger" aria-label={`Delete datasource ${d.name}`} onClick={() => remove(d)}>Delete</button>
                </div>
              )}</td>
            </tr>
          ))}</tbody>
        </table>
      )}
      {canEdit && current && (
        <EditDatasource
          key={current.id}
          project={project}
          datasource={current}
          onCancel={() => setEditing(null)}
          onDone={() => {
            setEditing(null);
            list.reload();
          }}
        />
      )}
      {canEdit && <NewDatasource project={project} onDone={list.reload} />}
    </>
  );
}

/** "k=v" lines → an object (a line without "=" is a name with an empty value: the API names it). */
function parseOptions(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const at = line.indexOf("=");
    out[(at < 0 ? line : line.slice(0, at)).trim()] = at < 0 ? "" : line.slice(at + 1).trim();
  }
  return out;
}

/** A typed port as a number when it is one; otherwise the text, so the API names the field. */
const portOf = (text: string): number | string => (/^\d+$/.test(text.trim()) ? Number(text) : text);

function EditDatasource({ project, datasource: d, onDone, onCancel }: { project: string; datasource: Datasource; onDone: () => void; onCancel: () => void }) {
  const [f, setF] = useState({
    name: d.name,
    host: d.host,
    port: String(d.port),
    database: d.database,
    user: d.user,
    options: Object.entries(d.params).map(([k, v]) => `${k}=${v}`).join("\n"),
    description: d.description,
    password: "",
  });
  const [removePassword, setRemovePassword] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const body: Record<string, unknown> = {
      name: f.name,
      host: f.host,
      port: portOf(f.port),
      database: f.database,
      user: f.user,
      params: parseOptions(f.options),
      description: f.description,
    };
    // Write-only: an empty field keeps the stored password; the checkbox removes it.
    if (removePassword) body.password = null;
    else if (f.password !== "") body.password = f.password;
    try {
      await api("PUT", `/projects/${enc(project)}/datasources/${enc(d.name)}`, body);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form onSubmit={save} aria-label={`edit datasource ${d.name}`} class="panel">
      <h3 style="margin-top:0">Edit {d.name}</h3>
      <div class="row">
        <Field label="Name"><input value={f.name} onInput={set("name")} /></Field>
        <Field label="Host"><input value={f.host} onInput={set("host")} /></Field>
        <Field label="Port"><input value={f.port} onInput={set("port")} size={6} /></Field>
        <Field label="Database"><input value={f.database} onInput={set("database")} /></Field>
        <Field label="User"><input value={f.user} onInput={set("user")} /></Field>
      </div>
      <Field label="New password (write-only)" hint={d.hasPassword ? "leave empty to keep the stored password" : "none is stored; leave empty for none"}>
        <input type="password" value={f.password} onInput={set("password")} autocomplete="new-password" disabled={removePassword} />
      </Field>
      {d.hasPassword && (
        <label class="row"><input type="checkbox" checked={removePassword} onChange={(e) => setRemovePassword(e.currentTarget.checked)} /> remove the stored password</label>
      )}
      <Field label="Connection options (one name=value a line)"><textarea class="code" rows={2} value={f.options} onInput={set("options")} /></Field>
      <Field label="Description"><input value={f.description} onInput={set("description")} /></Field>
      <div class="row">
        <button type="submit" class="primary">Save datasource</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}

function NewDatasource({ project, onDone }: { project: string; onDone: () => void }) {
  const empty = { name: "", host: "", port: "5432", database: "", user: "", password: "" };
  const [f, setF] = useState(empty);
  const [error, setError] = useState<unknown>(null);
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api("POST", `/projects/${enc(project)}/datasources`, { name: f.name, host: f.host, port: portOf(f.port), database: f.database, user: f.user, ...(f.password ? { password: f.password } : {}) });
      setF(empty);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form onSubmit={save} aria-label="new datasource" class="panel">
      <div class="row">
        <Field label="Name"><input value={f.name} onInput={set("name")} /></Field>
        <Field label="Host"><input value={f.host} onInput={set("host")} /></Field>
        <Field label="Port"><input value={f.port} onInput={set("port")} size={6} /></Field>
        <Field label="Database"><input value={f.database} onInput={set("database")} /></Field>
        <Field label="User"><input value={f.user} onInput={set("user")} /></Field>
        <Field label="Password (write-only)"><input type="password" value={f.password} onInput={set("password")} autocomplete="new-password" /></Field>
      </div>
      <button type="submit">Add Postgres datasource</button>
      <ErrorBox error={error} />
    </form>
  );
}
