// View 7: a project's parameters, members, datasources (datasources.tsx) and audit log; for administrators the
// users; for everyone their own tokens.

import { useState } from "preact/hooks";
import { api, enc, session } from "../api.ts";
import { ErrorBox, Field, Loading, when } from "../components.tsx";
import { atLeast, useApi, useRole } from "../hooks.ts";
import type { Member, Page, User } from "../types.ts";
import { DatasourcesSection } from "./datasources.tsx";

interface Audit { id: number; at: string; actorName: string; action: string; objectType: string; objectId: string }
interface Token { id: number; name: string; kind: string; prefix: string; createdAt: string; expiresAt: string | null; revokedAt: string | null }

export function SettingsView({ project }: { project: string }) {
  const p = enc(project);
  const role = useRole(project);
  const params = useApi<{ params: Record<string, string> }>(`/projects/${p}/params`);
  const members = useApi<Page<Member>>(`/projects/${p}/members?limit=500`);
  const audit = useApi<Page<Audit>>(`/projects/${p}/audit?limit=100`);
  return (
    <main>
      <p class="crumbs"><a href="/">Projects</a> / <a href={`/projects/${p}`}>{project}</a> / settings</p>
      <h1>{project}: settings</h1>
      <div class="cols">
        <section>
          <h2>Parameters</h2>
          {params.data ? <ParamsEditor project={project} params={params.data.params} canEdit={atLeast(role, "developer")} /> : <ErrorBox error={params.error} />}
          <DatasourcesSection project={project} canEdit={atLeast(role, "developer")} />
        </section>
        <section>
          <h2>Members</h2>
          <ErrorBox error={members.error} />
          {members.data && (
            <table>
              <thead><tr><th>User</th><th>Role</th></tr></thead>
              <tbody>{members.data.items.map((m) => (
                <tr key={m.userId}>
                  <td>{m.userName}</td>
                  <td>{atLeast(role, "owner") ? <MemberRole project={project} member={m} onDone={members.reload} /> : m.role}</td>
                </tr>
              ))}</tbody>
            </table>
          )}
          {atLeast(role, "owner") && <AddMember project={project} onDone={members.reload} />}
        </section>
      </div>
      <h2>Audit log</h2>
      <ErrorBox error={audit.error} />
      {audit.loading && <Loading what="audit log" />}
      {audit.data && (
        <table>
          <thead><tr><th>When</th><th>Who</th><th>Action</th><th>Object</th></tr></thead>
          <tbody>{audit.data.items.map((a) => <tr key={a.id}><td>{when(a.at)}</td><td>{a.actorName}</td><td>{a.action}</td><td>{a.objectType} {a.objectId}</td></tr>)}</tbody>
        </table>
      )}
    </main>
  );
}

function ParamsEditor({ project, params, canEdit }: { project: string; params: Record<string, string>; canEdit: boolean }) {
  const [text, setText] = useState(Object.entries(params).map(([k, v]) => `${k}=${v}`).join("\n"));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const save = async () => {
    setError(null);
    setSaved(false);
    const out: Record<string, string> = {};
    for (const line of text.split("\n")) {
      const i = line.indexOf("=");
      if (line.trim() !== "" && i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1);
    }
    try {
      await api("PUT", `/projects/${enc(project)}/params`, { params: out });
      setSaved(true);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div>
      <Field label="One name=value a line"><textarea class="code" rows={5} value={text} readOnly={!canEdit} onInput={(e) => setText(e.currentTarget.value)} style="width:100%" /></Field>
      {canEdit && <button type="button" onClick={save}>Save parameters</button>}
      {saved && <span class="ok"> saved</span>}
      <ErrorBox error={error} />
    </div>
  );
}

function AddMember({ project, onDone }: { project: string; onDone: () => void }) {
  const [user, setUser] = useState("");
  const [role, setRole] = useState("viewer");
  const [error, setError] = useState<unknown>(null);
  const add = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api("POST", `/projects/${enc(project)}/members`, { user, role });
      setUser("");
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="row" onSubmit={add} aria-label="add member">
      <Field label="User name"><input value={user} required onInput={(e) => setUser(e.currentTarget.value)} /></Field>
      <Field label="Role"><select value={role} onChange={(e) => setRole(e.currentTarget.value)}><option>viewer</option><option>developer</option><option>owner</option></select></Field>
      <button type="submit">Add member</button>
      <ErrorBox error={error} />
    </form>
  );
}

export function AccountView() {
  const admin = session.user?.isAdmin ?? false;
  const users = useApi<Page<User>>(admin ? "/users?limit=500" : null);
  const tokens = useApi<Page<Token>>("/tokens?limit=500");
  const [name, setName] = useState("");
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const createToken = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const t = await api<{ token: string }>("POST", "/tokens", { name, expiresIn: "30d" });
      setCreated(t.token);
      tokens.reload();
    } catch (err) {
      setError(err);
    }
  };
  const revoke = async (id: number) => {
    try {
      await api("DELETE", `/tokens/${id}`);
      tokens.reload();
    } catch (err) {
      setError(err);
    }
  };
  const toggleUser = async (u: User) => {
    setError(null);
    try {
      await api("POST", `/users/${enc(u.name)}/${u.disabled ? "enable" : "disable"}`);
      users.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <main>
      <h1>Account{admin ? " and users" : ""}</h1>
      <h2>Your tokens</h2>
      <ErrorBox error={tokens.error ?? error} />
      {tokens.data && (
        <table>
          <thead><tr><th>Name</th><th>Kind</th><th>Starts with</th><th>Created</th><th>Expires</th><th></th></tr></thead>
          <tbody>{tokens.data.items.map((t) => (
            <tr key={t.id}><td>{t.name}</td><td>{t.kind}</td><td><code>{t.prefix}</code></td><td>{when(t.createdAt)}</td><td>{t.revokedAt ? "revoked" : when(t.expiresAt)}</td>
              <td>{!t.revokedAt && <button type="button" class="danger" onClick={() => revoke(t.id)}>Revoke</button>}</td></tr>
          ))}</tbody>
        </table>
      )}
      <form class="row" onSubmit={createToken} aria-label="new token">
        <Field label="New API token name (30 days)"><input value={name} required onInput={(e) => setName(e.currentTarget.value)} /></Field>
        <button type="submit">Create token</button>
      </form>
      {created && <p>Copy it now, it is shown once: <code data-testid="new-token">{created}</code></p>}
      {admin && (
        <>
          <h2>Users</h2>
          <ErrorBox error={users.error} />
          {users.data && (
            <table>
              <thead><tr><th>Name</th><th>Admin</th><th>Disabled</th><th></th></tr></thead>
              <tbody>{users.data.items.map((u) => (
                <tr key={u.id}>
                  <td>{u.name}</td><td>{u.isAdmin ? "yes" : ""}</td><td>{u.disabled ? "yes" : ""}</td>
                  <td>{u.id !== session.user?.id && <button type="button" onClick={() => toggleUser(u)}>{u.disabled ? "Enable" : "Disable"}</button>}</td>
                </tr>
              ))}</tbody>
            </table>
          )}
          <NewUser onDone={users.reload} />
        </>
      )}
    </main>
  );
}

function MemberRole({ project, member, onDone }: { project: string; member: Member; onDone: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const call = async (method: string, body?: unknown) => {
    setError(null);
    try {
      await api(method, `/projects/${enc(project)}/members/${enc(member.userName)}`, body);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div class="row">
      <select aria-label={`role of ${member.userName}`} value={member.role} onChange={(e) => call("PATCH", { role: e.currentTarget.value })}>
        <option>viewer</option><option>developer</option><option>owner</option>
      </select>
      <button type="button" class="danger" onClick={() => call("DELETE")} aria-label={`remove ${member.userName}`}>Remove</button>
      <ErrorBox error={error} />
    </div>
  );
}

function NewUser({ onDone }: { onDone: () => void }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [isAdmin, setIsAdmin] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api("POST", "/users", { name, password, isAdmin });
      setName("");
      setPassword("");
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="row" onSubmit={save} aria-label="new user">
      <Field label="User name"><input value={name} onInput={(e) => setName(e.currentTarget.value)} /></Field>
      <Field label="Password"><input type="password" autocomplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} /></Field>
      <label class="row"><input type="checkbox" checked={isAdmin} onChange={(e) => setIsAdmin(e.currentTarget.checked)} /> administrator</label>
      <button type="submit">Create user</button>
      <ErrorBox error={error} />
    </form>
  );
}
