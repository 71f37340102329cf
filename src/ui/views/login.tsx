// View 1a: log in with a password (POST /login) or paste an API token (checked with GET /me).

import { useState } from "preact/hooks";
import { api, setSession } from "../api.ts";
import { ErrorBox, Field } from "../components.tsx";
import { forgetRoles } from "../hooks.ts";
import { navigate } from "../router.ts";
import type { User } from "../types.ts";

export function LoginView({ next }: { next: string }) {
  const [mode, setMode] = useState<"password" | "token">("password");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      forgetRoles();
      if (mode === "password") {
        const r = await api<{ token: string; user: User }>("POST", "/login", { username, password });
        setSession(r.token, r.user);
      } else {
        setSession(token.trim(), null);
        const me = await api<{ user: User }>("GET", "/me");
        setSession(token.trim(), me.user);
      }
      navigate(next.startsWith("/") && !next.startsWith("//") ? next : "/", true);
    } catch (err) {
      if (mode === "token") setSession(null, null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main style="max-width:420px">
      <h1>Log in to porpoise</h1>
      <div class="row" role="tablist" aria-label="how to log in">
        <button type="button" role="tab" aria-selected={mode === "password"} class={mode === "password" ? "primary" : ""} onClick={() => setMode("password")}>Password</button>
        <button type="button" role="tab" aria-selected={mode === "token"} class={mode === "token" ? "primary" : ""} onClick={() => setMode("token")}>API token</button>
      </div>
      <form onSubmit={submit} class="panel" style="margin-top:.5rem">
        {mode === "password" ? (
          <>
            <Field label="User name">
              <input name="username" autocomplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
            </Field>
            <Field label="Password">
              <input name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
            </Field>
          </>
        ) : (
          <Field label="API token" hint="e.g. the admin token printed at first start, or one made with POST /api/v1/tokens">
            <input name="token" type="password" required value={token} onInput={(e) => setToken(e.currentTarget.value)} style="width:100%" />
          </Field>
        )}
        <ErrorBox error={error} />
        <button class="primary" type="submit" disabled={busy}>Log in</button>
      </form>
    </main>
  );
}
