// Pure DAG functions over tasks (name + deps). Everything is O(V + E) and iterative:
// a 10,000-task chain must not overflow the call stack. The graph uses integer indices
// in CSR form (one offsets array + one flat neighbours array per direction) because the
// engine computes ready sets from it on every task completion.
//
// Edge direction follows execution: `b.deps = ["a"]` is the edge a → b (a runs first),
// so cycles read in the order tasks would wait on each other: `a → b → c → a`.

import { ValidationError, type ErrorDetail } from "./errors.ts";
import { closestName } from "./zod-details.ts";

export interface DagTask {
  readonly name: string;
  readonly deps: readonly string[];
}

export interface DagGraph {
  readonly size: number;
  readonly names: readonly string[];
  readonly indexOf: ReadonlyMap<string, number>;
  /** Successors of node i are `succ[succStart[i]] … succ[succStart[i + 1] - 1]`. */
  readonly succStart: Int32Array;
  readonly succ: Int32Array;
  /** Predecessors (the deps) of node i are `pred[predStart[i]] … pred[predStart[i + 1] - 1]`. */
  readonly predStart: Int32Array;
  readonly pred: Int32Array;
}

/** Unknown-dep suggestions cost O(V) each; past this many, plain messages are enough. */
const MAX_SUGGESTIONS = 20;

function indexNames(tasks: readonly DagTask[]): Map<string, number> {
  const index = new Map<string, number>();
  for (let i = 0; i < tasks.length; i++) {
    const name = tasks[i]!.name;
    if (!index.has(name)) index.set(name, i);
  }
  return index;
}

// Builds both CSR directions from an edge list given as parallel arrays (from[k] → to[k]).
function csr(size: number, from: Int32Array, to: Int32Array, edges: number): { start: Int32Array; list: Int32Array } {
  const start = new Int32Array(size + 1);
  for (let k = 0; k < edges; k++) start[from[k]! + 1]!++;
  for (let i = 0; i < size; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, size);
  const list = new Int32Array(edges);
  for (let k = 0; k < edges; k++) list[fill[from[k]!]!++] = to[k]!;
  return { start, list };
}

function graphOf(tasks: readonly DagTask[], index: Map<string, number>): DagGraph {
  const size = tasks.length;
  let total = 0;
  for (const task of tasks) total += task.deps.length;
  const from = new Int32Array(total);
  const to = new Int32Array(total);
  let edges = 0;
  for (let i = 0; i < size; i++) {
    for (const dep of tasks[i]!.deps) {
      const j = index.get(dep);
      if (j === undefined) continue; // reported by validateDag; buildGraph refuses before this
      from[edges] = j;
      to[edges] = i;
      edges++;
    }
  }
  const forward = csr(size, from, to, edges);
  const backward = csr(size, to, from, edges);
  return {
    size,
    names: tasks.map((t) => t.name),
    indexOf: index,
    succStart: forward.start,
    succ: forward.list,
    predStart: backward.start,
    pred: backward.list,
  };
}

/**
 * The graph of a valid task list. Throws ValidationError when names repeat or a dep
 * names no task (call `validateDag` first for all problems with their paths).
 */
export function buildGraph(tasks: readonly DagTask[]): DagGraph {
  const index = indexNames(tasks);
  if (index.size !== tasks.length) throw new ValidationError("task names must be unique", validateDag(tasks));
  for (const task of tasks) {
    for (const dep of task.deps) {
      if (!index.has(dep)) throw new ValidationError(`task "${task.name}" depends on unknown task "${dep}"`, validateDag(tasks));
    }
  }
  return graphOf(tasks, index);
}

export function successors(graph: DagGraph, i: number): Int32Array {
  return graph.succ.subarray(graph.succStart[i]!, graph.succStart[i + 1]!);
}

export function predecessors(graph: DagGraph, i: number): Int32Array {
  return graph.pred.subarray(graph.predStart[i]!, graph.predStart[i + 1]!);
}

function asGraph(input: DagGraph | readonly DagTask[]): DagGraph {
  return Array.isArray(input) ? buildGraph(input as readonly DagTask[]) : (input as DagGraph);
}

/** Indices of the tasks without deps, in definition order. */
export function roots(input: DagGraph | readonly DagTask[]): number[] {
  const graph = asGraph(input);
  const out: number[] = [];
  for (let i = 0; i < graph.size; i++) if (graph.predStart[i] === graph.predStart[i + 1]) out.push(i);
  return out;
}

/**
 * One concrete cycle as node indices `[a, b, c]` meaning a → b → c → a, starting at its
 * lowest index; null when the graph is acyclic. Iterative DFS (white/grey/black) with
 * the current path kept in an array, so the cycle is the path from the grey node hit.
 */
export function findCycle(graph: DagGraph): number[] | null {
  const { size, succStart, succ } = graph;
  const colour = new Uint8Array(size); // 0 unvisited, 1 on the current path, 2 finished
  const cursor = new Int32Array(size); // next successor slot to look at, per node
  const pathPos = new Int32Array(size);
  const path = new Int32Array(size);
  for (let start = 0; start < size; start++) {
    if (colour[start] !== 0) continue;
    let depth = 0;
    path[0] = start;
    pathPos[start] = 0;
    colour[start] = 1;
    cursor[start] = succStart[start]!;
    while (depth >= 0) {
      const node = path[depth]!;
      if (cursor[node]! < succStart[node + 1]!) {
        const next = succ[cursor[node]!++]!;
        if (next === node) continue; // self-loops are reported on their own
        if (colour[next] === 1) {
          const cycle = Array.from(path.subarray(pathPos[next]!, depth + 1));
          let low = 0;
          for (let k = 1; k < cycle.length; k++) if (cycle[k]! < cycle[low]!) low = k;
          return [...cycle.slice(low), ...cycle.slice(0, low)];
        }
        if (colour[next] === 0) {
          colour[next] = 1;
          cursor[next] = succStart[next]!;
          path[++depth] = next;
          pathPos[next] = depth;
        }
      } else {
        colour[node] = 2;
        depth--;
      }
    }
  }
  return null;
}

/** `a → b → c → a`; a very long cycle keeps its first ten and last two tasks. */
export function formatCycle(names: readonly string[], cycle: readonly number[]): string {
  const closed = [...cycle, cycle[0]!].map((i) => names[i]!);
  if (closed.length <= 14) return closed.join(" → ");
  const skipped = closed.length - 12;
  return [...closed.slice(0, 10), `… ${skipped} more …`, ...closed.slice(-2)].join(" → ");
}

function selfLoop(graph: DagGraph): number[] | null {
  for (let i = 0; i < graph.size; i++) if (successors(graph, i).includes(i)) return [i];
  return null;
}

/** Task indices in an order where every task comes after its deps (Kahn; ties keep definition order). */
export function topologicalOrder(input: DagGraph | readonly DagTask[]): number[] {
  const graph = asGraph(input);
  const { size, succStart, succ, predStart } = graph;
  const waiting = new Int32Array(size);
  const order = new Int32Array(size);
  let tail = 0;
  for (let i = 0; i < size; i++) {
    waiting[i] = predStart[i + 1]! - predStart[i]!;
    if (waiting[i] === 0) order[tail++] = i;
  }
  for (let head = 0; head < tail; head++) {
    const node = order[head]!;
    for (let k = succStart[node]!; k < succStart[node + 1]!; k++) {
      const next = succ[k]!;
      if (--waiting[next]! === 0) order[tail++] = next;
    }
  }
  if (tail < size) {
    const cycle = findCycle(graph) ?? selfLoop(graph);
    const text = cycle ? formatCycle(graph.names, cycle) : "unknown";
    throw new ValidationError(`the tasks form a dependency cycle: ${text}`);
  }
  return Array.from(order);
}

/**
 * Every structural problem of a task list, with paths into it (`tasks.3.deps.1`):
 * duplicate names, deps listed twice, unknown deps, self-loops and one concrete cycle.
 */
export function validateDag(tasks: readonly DagTask[]): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const index = indexNames(tasks);
  let suggestions = 0;
  for (let i = 0; i < tasks.length; i++) {
    const task = tasks[i]!;
    const first = index.get(task.name)!;
    if (first !== i) {
      details.push({ path: `tasks.${i}.name`, message: `duplicate task name "${task.name}" (also used by tasks.${first}); task names must be unique` });
    }
    const seen = new Set<string>();
    for (let k = 0; k < task.deps.length; k++) {
      const dep = task.deps[k]!;
      const path = `tasks.${i}.deps.${k}`;
      if (seen.has(dep)) {
        details.push({ path, message: `"${dep}" is listed twice in the deps of "${task.name}"; list each upstream task once` });
        continue;
      }
      seen.add(dep);
      if (dep === task.name) {
        details.push({ path, message: `task "${task.name}" depends on itself (${dep} → ${dep}); remove "${dep}" from its deps` });
      } else if (!index.has(dep)) {
        const near = suggestions++ < MAX_SUGGESTIONS ? closestName(dep, index.keys()) : undefined;
        const hint = near ? ` (did you mean "${near}"?)` : "";
        details.push({ path, message: `unknown task "${dep}"${hint}; deps must name tasks of this workflow` });
      }
    }
  }
  const graph = graphOf(tasks, index);
  const cycle = findCycle(graph);
  if (cycle) {
    // Point at the dep entry that closes the cycle: the first task's dep on the last one.
    const head = cycle[0]!;
    const closing = tasks[head]!.deps.indexOf(graph.names[cycle.at(-1)!]!);
    details.push({
      path: `tasks.${head}.deps${closing >= 0 ? `.${closing}` : ""}`,
      message: `dependency cycle: ${formatCycle(graph.names, cycle)}; a task cannot wait for itself, remove one of these deps`,
    });
  }
  return details;
}
