// The DAG as plain SVG with pan (drag, arrow keys) and zoom (wheel, + / -, 0 fits). Layout runs in
// a Web Worker (layout-worker.ts) and is cached per workflow version — a version never changes —
// in memory and in sessionStorage, so a reload or another tab's page of the same version skips it
// (a 1,000-task layout is seconds of dagre, its result ~100 KB of JSON).
// Nodes are coloured by the state of their task when `states` is given (the run view).

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { LayoutRequest, LayoutResult } from "./layout-worker.ts";
import { stateColour } from "./components.tsx";
import type { Definition } from "./types.ts";

declare const __LAYOUT_WORKER_URL__: string;

const layouts = new Map<string, LayoutResult>();
const waiting = new Map<string, ((r: LayoutResult) => void)[]>();
let worker: Worker | null = null;

function layoutWorker(): Worker {
  if (!worker) {
    worker = new Worker(__LAYOUT_WORKER_URL__, { type: "module" });
    worker.onmessage = (e: MessageEvent<LayoutResult>) => {
      // Read by scripts/bench/ui-paint.ts: how much of a first paint the layout is.
      performance.measure(`dag-layout ${e.data.key}`, `dag-layout ${e.data.key}`);
      layouts.set(e.data.key, e.data);
      store(e.data);
      for (const r of waiting.get(e.data.key) ?? []) r(e.data);
      waiting.delete(e.data.key);
    };
  }
  return worker;
}

/** Pages that will draw a DAG start the worker (fetch, parse dagre) while their data loads. */
export function warmLayoutWorker(): void {
  layoutWorker();
}

const STORED = "porpoise.layout.";

/** The stored layout of `key` if it is there and fits the definition (a reset database reuses ids). */
function stored(key: string, def: Definition): LayoutResult | null {
  try {
    const text = sessionStorage.getItem(STORED + key);
    if (!text) return null;
    const l = JSON.parse(text) as LayoutResult;
    const names = new Set(def.tasks.map((t) => t.name));
    const edges = def.tasks.reduce((n, t) => n + (t.deps?.length ?? 0), 0);
    return l.nodes.length === names.size && l.nodes.every((n) => names.has(n.id)) && l.edges.length === edges ? l : null;
  } catch {
    return null;
  }
}

function store(l: LayoutResult): void {
  try {
    sessionStorage.setItem(STORED + l.key, JSON.stringify(l));
  } catch {
    // Full (a few MB per origin): the in-memory cache still serves this page.
  }
}

function layoutOf(key: string, def: Definition): Promise<LayoutResult> {
  const done = layouts.get(key) ?? stored(key, def);
  if (done) {
    layouts.set(key, done);
    return Promise.resolve(done);
  }
  return new Promise((resolve) => {
    const queue = waiting.get(key);
    if (queue) return void queue.push(resolve);
    waiting.set(key, [resolve]);
    const req: LayoutRequest = {
      key,
      nodes: def.tasks.map((t) => ({ id: t.name, width: Math.min(220, Math.max(70, t.name.length * 7 + 28)), height: 30 })),
      edges: def.tasks.flatMap((t) => (t.deps ?? []).map((d) => ({ from: d, to: t.name }))),
    };
    performance.mark(`dag-layout ${key}`);
    layoutWorker().postMessage(req);
  });
}

export interface DagProps {
  /** Workflow id + version: the layout cache key. */
  layoutKey: string;
  definition: Definition;
  states?: Record<string, string>;
  selected?: string | null;
  onSelect?: (task: string) => void;
  label: string;
}

export function Dag({ layoutKey, definition, states, selected, onSelect, label }: DagProps) {
  const [layout, setLayout] = useState<LayoutResult | null>(layouts.get(layoutKey) ?? null);
  const [view, setView] = useState({ x: 0, y: 0, k: 1 });
  const svg = useRef<SVGSVGElement>(null);
  const drag = useRef<{ x: number; y: number; vx: number; vy: number } | null>(null);

  useEffect(() => {
    let live = true;
    void layoutOf(layoutKey, definition).then((l) => live && setLayout(l));
    return () => void (live = false);
  }, [layoutKey]);

  const fit = () => {
    if (!layout || !svg.current) return;
    const { width, height } = svg.current.getBoundingClientRect();
    const k = Math.min(1.5, width / Math.max(layout.width, 1), height / Math.max(layout.height, 1));
    setView({ k, x: (width - layout.width * k) / 2, y: (height - layout.height * k) / 2 });
  };
  useEffect(fit, [layout]);

  const zoom = (factor: number, cx?: number, cy?: number) =>
    setView((v) => {
      const rect = svg.current?.getBoundingClientRect();
      const px = cx ?? (rect ? rect.width / 2 : 0);
      const py = cy ?? (rect ? rect.height / 2 : 0);
      const k = Math.min(4, Math.max(0.05, v.k * factor));
      return { k, x: px - ((px - v.x) * k) / v.k, y: py - ((py - v.y) * k) / v.k };
    });

  const edges = useMemo(
    () => layout?.edges.map((e) => <path key={`${e.from}>${e.to}`} class="edge" d={`M${e.points.map((p) => `${p.x},${p.y}`).join("L")}`} marker-end="url(#arrow)" />),
    [layout],
  );

  if (!layout) return <p class="muted" aria-busy="true">Laying out {definition.tasks.length} tasks…</p>;
  return (
    <div>
      <div class="row" style="margin-bottom:.3rem">
        <button type="button" onClick={() => zoom(1.25)} aria-label="zoom in">+</button>
        <button type="button" onClick={() => zoom(0.8)} aria-label="zoom out">−</button>
        <button type="button" onClick={fit}>Fit</button>
        <span class="muted">{definition.tasks.length} tasks · drag to pan, wheel or +/− to zoom</span>
      </div>
      <svg
        ref={svg}
        class="dag"
        role="group"
        aria-label={label}
        // Lower case: on SVG elements the attribute name is case-sensitive ("tabIndex" is ignored).
        tabindex={0}
        data-testid="dag"
        data-tasks={layout.nodes.length}
        onWheel={(e) => {
          e.preventDefault();
          const r = svg.current!.getBoundingClientRect();
          zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
        }}
        onPointerDown={(e) => {
          if ((e.target as Element).closest(".node")) return;
          drag.current = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y };
          (e.currentTarget as Element).setPointerCapture(e.pointerId);
        }}
        onPointerMove={(e) => {
          const d = drag.current;
          if (d) setView((v) => ({ ...v, x: d.vx + e.clientX - d.x, y: d.vy + e.clientY - d.y }));
        }}
        onPointerUp={() => (drag.current = null)}
        onKeyDown={(e) => {
          const step = 40;
          const moves: Record<string, [number, number]> = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
          if (e.target !== svg.current) return;
          if (e.key === "+" || e.key === "=") zoom(1.25);
          else if (e.key === "-") zoom(0.8);
          else if (e.key === "0") fit();
          else if (moves[e.key]) setView((v) => ({ ...v, x: v.x + moves[e.key]![0], y: v.y + moves[e.key]![1] }));
          else return;
          e.preventDefault();
        }}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
            <path d="M0,0L10,5L0,10z" fill="currentColor" class="muted" />
          </marker>
        </defs>
        <g transform={`translate(${view.x},${view.y}) scale(${view.k})`}>
          {edges}
          {layout.nodes.map((n) => {
            const state = states?.[n.id];
            return (
              <g
                key={n.id}
                class={`node${selected === n.id ? " sel" : ""}`}
                data-task={n.id}
                data-state={state ?? ""}
                transform={`translate(${n.x - n.width / 2},${n.y - n.height / 2})`}
                {...(onSelect
                  ? {
                      tabindex: 0,
                      role: "button",
                      "aria-label": `task ${n.id}${state ? `: ${state}` : ""}`,
                      onClick: () => onSelect(n.id),
                      onKeyDown: (e: KeyboardEvent) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), onSelect(n.id)),
                      style: "cursor:pointer",
                    }
                  : {})}
              >
                <rect width={n.width} height={n.height} rx={6} style={state ? `stroke:${stateColour(state)}` : ""} />
                <rect class="state" width={8} height={n.height} rx={3} style={`fill:${stateColour(state)}`} />
                <text x={n.width / 2 + 3} y={n.height / 2}>{n.id.length > 28 ? `${n.id.slice(0, 27)}…` : n.id}</text>
              </g>
            );
          })}
        </g>
      </svg>
    </div>
  );
}
