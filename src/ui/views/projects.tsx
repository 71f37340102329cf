// View 1b: the current user's projects, and a form to create one.

import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { ErrorBox, Field, Loading } from "../components.tsx";
import { useApi } from "../hooks.ts";
import { navigate } from "../router.ts";
import type { Page, Project } from "../types.ts";

export function ProjectsView() {
  const projects = useApi<Page<Project>>("/projects?limit=500");
  const [name, setName] = useState("");
  const [error, setError] = useState<unknown>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const p = await api<Project>("POST", "/projects", { name });
      navigate(`/projects/${encodeURIComponent(p.name)}`);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <main>
      <h1>Projects</h1>
      <ErrorBox error={projects.error} />
      {projects.loading && <Loading what="projects" />}
      {projects.data && (
        <table>
          <caption class="sr-only">your projects</caption>
          <thead><tr><th>Name</th><th>Description</th></tr></thead>
          <tbody>
            {projects.data.items.map((p) => (
              <tr key={p.id}>
                <td><a href={`/projects/${encodeURIComponent(p.name)}`}>{p.name}</a></td>
                <td>{p.description}</td>
              </tr>
            ))}
            {projects.data.items.length === 0 && <tr><td colSpan={2} class="muted">You are not a member of any project yet.</td></tr>}
          </tbody>
        </table>
      )}
      <h2>New project</h2>
      <form onSubmit={create} class="row">
        <Field label="Project name"><input name="project" required value={name} onInput={(e) => setName(e.currentTarget.value)} /></Field>
        <button type="submit">Create</button>
      </form>
      <ErrorBox error={error} />
    </main>
  );
}
