// Small hooks the views share: loading an API read, following a live stream, the caller's role.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, session } from "./api.ts";
import { openStream, type SseEvent } from "./sse.ts";
import type { Member, Page, Role } from "./types.ts";

export interface Loaded<T> { data: T | null; error: unknown; loading: boolean; reload: () => void; set: (fn: (d: T | null) => T | null) => void }

/** GETs `path` (null: nothing yet) and again whenever `path` or `reload()` asks. */
export function useApi<T>(path: string | null): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: path !== null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    api<T>("GET", path, undefined, { signal: ctl.signal }).then(
      (data) => setState({ data, error: null, loading: false }),
      (error) => !ctl.signal.aborted && setState({ data: null, error, loading: false }),
    );
    return () => ctl.abort();
  }, [path, tick]);
  return { ...state, reload: () => setTick((n) => n + 1), set: (fn) => setState((s) => ({ ...s, data: fn(s.data) })) };
}

/** Follows an SSE path while the component is shown; `onEvent` always sees the latest closure. */
export function useStream(path: string | null, onEvent: (e: SseEvent) => void, reconnect = true): boolean {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const [live, setLive] = useState(false);
  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    openStream(path, { signal: ctl.signal, onEvent: (e) => handler.current(e), onStatus: setLive, reconnect });
    return () => ctl.abort();
  }, [path]);
  return live;
}

const ROLE_RANK: Record<Role, number> = { viewer: 1, developer: 2, owner: 3 };
const roles = new Map<string, Promise<Role | null>>();

/** The caller's role in a project (administrators act as owners), to show only the controls it allows. */
export function useRole(project: string): Role | null {
  const [role, setRole] = useState<Role | null>(null);
  useEffect(() => {
    const user = session.user;
    if (!user) return;
    if (user.isAdmin) return setRole("owner");
    const key = `${user.id}:${project}`;
    let p = roles.get(key);
    if (!p) {
      p = api<Page<Member>>("GET", `/projects/${encodeURIComponent(project)}/members?limit=500`).then(
        (page) => page.items.find((m) => m.userId === user.id)?.role ?? null,
        () => null,
      );
      roles.set(key, p);
    }
    void p.then(setRole);
  }, [project]);
  return role;
}

export function atLeast(role: Role | null, needed: Role): boolean {
  return role !== null && ROLE_RANK[role] >= ROLE_RANK[needed];
}

export function forgetRoles(): void {
  roles.clear();
}

export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
