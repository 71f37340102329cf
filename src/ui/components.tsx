// Pieces every view uses: the error box (message + each field), state dots, times.

import type { ComponentChildren } from "preact";
import { ApiError } from "./api.ts";

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiError) {
    return (
      <div class="error" role="alert">
        <strong>{error.message}</strong> <span class="muted">({error.code})</span>
        {error.details.length > 0 && (
          <ul>
            {error.details.map((d) => (
              <li key={d.path + d.message}>
                <code>{d.path || "(body)"}</code>: {d.message}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  return (
    <div class="error" role="alert">
      {error instanceof Error ? error.message : String(error)}
    </div>
  );
}

const COLOURS: Record<string, string> = {
  SUCCESS: "--ok", FORCED_SUCCESS: "--ok",
  RUNNING_EXECUTION: "--run", DISPATCH: "--run", SUBMITTED_SUCCESS: "--run", RUNNING: "--run",
  DELAY_EXECUTION: "--wait", SERIAL_WAIT: "--wait", READY_PAUSE: "--wait", READY_STOP: "--wait", NEED_FAULT_TOLERANCE: "--wait",
  FAILURE: "--fail", KILL: "--fail",
  STOP: "--stop", PAUSE: "--stop", STOPPED: "--stop",
};

/** The colour of a workflow, task or backfill state (a CSS variable, so light and dark both work). */
export function stateColour(state: string | undefined): string {
  return `var(${(state && COLOURS[state]) ?? "--idle"})`;
}

export function StateDot({ state, title }: { state: string; title?: string }) {
  return <span class="dot" style={`background:${stateColour(state)}`} title={title ?? state} role="img" aria-label={title ?? state} />;
}

export function StateBadge({ state }: { state: string }) {
  return <span class="badge" style={`background:${stateColour(state)}`} data-state={state}>{state}</span>;
}

export function when(iso: string | null): string {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function duration(from: string | null, to: string | null): string {
  if (!from) return "–";
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function Loading({ what }: { what: string }) {
  return <p class="muted" aria-busy="true">Loading {what}…</p>;
}

export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label>
      <span>{label}</span>
      {children}
      {hint && <small class="muted">{hint}</small>}
    </label>
  );
}
