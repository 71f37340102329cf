// The shell: header (navigation, theme, log out) and the client routes. The server answers
// every one of these paths with index.html (src/api/ui-assets.ts).

import { useEffect, useState } from "preact/hooks";
import { api, onSession, session, setSession } from "./api.ts";
import { Loading } from "./components.tsx";
import { match, navigate, onLinkClick, useLocation } from "./router.ts";
import type { User } from "./types.ts";
import { ClusterView } from "./views/cluster.tsx";
import { EditorView } from "./views/editor.tsx";
import { GridView } from "./views/grid.tsx";
import { LoginView } from "./views/login.tsx";
import { ProjectView } from "./views/project.tsx";
import { ProjectsView } from "./views/projects.tsx";
import { RunView } from "./views/run.tsx";
import { SchedulesView } from "./views/schedules.tsx";
import { AccountView, SettingsView } from "./views/settings.tsx";
import { WorkflowView } from "./views/workflow.tsx";

type Theme = "auto" | "light" | "dark";

function applyTheme(t: Theme) {
  if (t === "auto") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", t);
}

export function App() {
  const { path, query } = useLocation();
  const [, rerender] = useState(0);
  const [theme, setTheme] = useState<Theme>((localStorage.getItem("porpoise.theme") as Theme) ?? "auto");
  useEffect(() => onSession(() => rerender((n) => n + 1)), []);
  useEffect(() => {
    applyTheme(theme);
    localStorage.setItem("porpoise.theme", theme);
  }, [theme]);
  useEffect(() => {
    document.addEventListener("click", onLinkClick);
    return () => document.removeEventListener("click", onLinkClick);
  }, []);
  // A stored token: who is it? (401 clears it and the login page shows.)
  useEffect(() => {
    if (session.token && !session.user) void api<{ user: User }>("GET", "/me").then((me) => setSession(session.token, me.user), () => {});
  }, [session.token]);

  // Without a session every path shows the login form, and after it the page that was asked for.
  if (path === "/login" || !session.token) return <LoginView next={path === "/login" ? (query.get("next") ?? "/") : path + location.search} />;
  if (!session.user) return <main><Loading what="your account" /></main>;
  const logout = async () => {
    await api("POST", "/logout").catch(() => {});
    setSession(null, null);
    navigate("/login", true);
  };
  return (
    <>
      <a href="#content" class="sr-only">Skip to content</a>
      <header class="top">
        <a class="brand" href="/">porpoise</a>
        <nav aria-label="main">
          <a href="/">Projects</a>
          <a href="/cluster">Cluster</a>
          <a href="/account">{session.user.isAdmin ? "Users & tokens" : "Tokens"}</a>
        </nav>
        <label class="row" style="margin:0">
          <span class="sr-only">Theme</span>
          <select value={theme} onChange={(e) => setTheme(e.currentTarget.value as Theme)} aria-label="theme">
            <option value="auto">auto</option><option value="light">light</option><option value="dark">dark</option>
          </select>
        </label>
        <span class="muted">{session.user.name}</span>
        <button type="button" onClick={logout}>Log out</button>
      </header>
      <div id="content">{route(path, query)}</div>
    </>
  );
}

function route(path: string, query: URLSearchParams) {
  let m: Record<string, string> | null;
  if (path === "/" || path === "") return <ProjectsView />;
  if (path === "/cluster") return <ClusterView />;
  if (path === "/account") return <AccountView />;
  if ((m = match("/projects/:project", path))) return <ProjectView key={m.project} project={m.project!} />;
  if ((m = match("/projects/:project/settings", path))) return <SettingsView project={m.project!} />;
  if ((m = match("/projects/:project/new-workflow", path))) return <EditorView project={m.project!} name={null} />;
  if ((m = match("/projects/:project/workflows/:name", path))) return <WorkflowView key={path} project={m.project!} name={m.name!} />;
  if ((m = match("/projects/:project/workflows/:name/edit", path))) return <EditorView key={path} project={m.project!} name={m.name!} />;
  if ((m = match("/projects/:project/workflows/:name/grid", path))) return <GridView key={path} project={m.project!} name={m.name!} />;
  if ((m = match("/projects/:project/workflows/:name/schedules", path))) return <SchedulesView key={path} project={m.project!} name={m.name!} />;
  if ((m = match("/projects/:project/runs/:id", path))) {
    const task = Number(query.get("task"));
    return <RunView key={path} project={m.project!} id={Number(m.id)} task={Number.isInteger(task) && task > 0 ? task : null} />;
  }
  return <main><h1>Not found</h1><p>No page at {path}. <a href="/">Projects</a></p></main>;
}
