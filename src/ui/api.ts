// The UI's one way to the server: the public API under /api/v1 with the session's bearer token.
// Error bodies ({ error: { code, message, details } }) become ApiError, which the views show as
// the message plus each field and what it expects (components.tsx ErrorBox).

import type { User } from "./types.ts";

export interface ErrorDetail { path: string; message: string }

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details: ErrorDetail[] = []) {
    super(message);
  }
}

const KEY = "porpoise.token";

export const session: { token: string | null; user: User | null } = { token: localStorage.getItem(KEY), user: null };
const listeners = new Set<() => void>();

export function onSession(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function setSession(token: string | null, user: User | null): void {
  session.token = token;
  session.user = user;
  if (token) localStorage.setItem(KEY, token);
  else localStorage.removeItem(KEY);
  for (const l of listeners) l();
}

export function authHeaders(): Record<string, string> {
  return session.token ? { authorization: `Bearer ${session.token}` } : {};
}

export interface CallOptions { yaml?: boolean; signal?: AbortSignal; headers?: Record<string, string> }

export async function api<T>(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { ...authHeaders(), ...opts.headers };
  let payload: string | undefined;
  if (body !== undefined) {
    headers["content-type"] = opts.yaml ? "application/yaml" : "application/json";
    payload = opts.yaml ? String(body) : JSON.stringify(body);
  }
  const res = await fetch(`/api/v1${path}`, { method, headers, body: payload, signal: opts.signal });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(res.status, "BAD_RESPONSE", `the server answered ${res.status} with something that is not JSON`);
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; details?: ErrorDetail[] } } | null)?.error;
    const err = new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `HTTP ${res.status}`, Array.isArray(e?.details) ? e.details : []);
    // A token that expired or was revoked: back to the login page (the login call itself excepted).
    if (res.status === 401 && path !== "/login" && session.token) setSession(null, null);
    throw err;
  }
  return json as T;
}

export const enc = encodeURIComponent;
