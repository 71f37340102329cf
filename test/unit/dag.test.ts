import { describe, expect, test } from "bun:test";
import {
  buildGraph,
  findCycle,
  formatCycle,
  predecessors,
  roots,
  successors,
  topologicalOrder,
  validateDag,
  type DagTask,
} from "../../src/core/dag.ts";
import { ValidationError } from "../../src/core/errors.ts";

const t = (name: string, ...deps: string[]): DagTask => ({ name, deps });

function chain(n: number): DagTask[] {
  return Array.from({ length: n }, (_, i) => t(`t${i}`, ...(i > 0 ? [`t${i - 1}`] : [])));
}

/** One root fanning out to n - 2 tasks that all join into one sink. */
function wide(n: number): DagTask[] {
  const middle = Array.from({ length: n - 2 }, (_, i) => t(`m${i}`, "root"));
  return [t("root"), ...middle, t("sink", ...middle.map((m) => m.name))];
}

/** Checks that every task comes after all of its deps. */
function expectTopological(tasks: readonly DagTask[], order: number[]): void {
  expect(order.length).toBe(tasks.length);
  const position = new Map<string, number>();
  order.forEach((index, pos) => position.set(tasks[index]!.name, pos));
  for (const task of tasks) for (const dep of task.deps) expect(position.get(dep)!).toBeLessThan(position.get(task.name)!);
}

describe("validateDag", () => {
  test("a valid diamond has no problems", () => {
    expect(validateDag([t("a"), t("b", "a"), t("c", "a"), t("d", "b", "c")])).toEqual([]);
  });

  test("a two-task cycle is listed as a → b → a", () => {
    expect(validateDag([t("a", "b"), t("b", "a")])).toEqual([
      { path: "tasks.0.deps.0", message: "dependency cycle: a → b → a; a task cannot wait for itself, remove one of these deps" },
    ]);
  });

  test("a longer cycle reads in execution order and starts at the first task of the file", () => {
    // x → a → b → c → a: b waits for a, c for b, a for c.
    const details = validateDag([t("x"), t("c", "b"), t("a", "x", "c"), t("b", "a")]);
    expect(details).toHaveLength(1);
    expect(details[0]!.message).toContain("c → a → b → c");
    expect(details[0]!.path).toBe("tasks.1.deps.0");
  });

  test("a self-loop is reported as such and not also as a cycle", () => {
    expect(validateDag([t("a", "a")])).toEqual([
      { path: "tasks.0.deps.0", message: 'task "a" depends on itself (a → a); remove "a" from its deps' },
    ]);
  });

  test("unknown deps are named, with a suggestion for a near miss", () => {
    expect(validateDag([t("extract"), t("load", "extarct", "nothing-like-it")])).toEqual([
      { path: "tasks.1.deps.0", message: 'unknown task "extarct" (did you mean "extract"?); deps must name tasks of this workflow' },
      { path: "tasks.1.deps.1", message: 'unknown task "nothing-like-it"; deps must name tasks of this workflow' },
    ]);
  });

  test("duplicate names point at the later task and name the first", () => {
    expect(validateDag([t("a"), t("b"), t("a")])).toEqual([
      { path: "tasks.2.name", message: 'duplicate task name "a" (also used by tasks.0); task names must be unique' },
    ]);
  });

  test("a dep listed twice is reported", () => {
    expect(validateDag([t("a"), t("b", "a", "a")])).toEqual([
      { path: "tasks.1.deps.1", message: '"a" is listed twice in the deps of "b"; list each upstream task once' },
    ]);
  });

  test("all kinds of problems are reported together", () => {
    const details = validateDag([t("a", "a"), t("b", "c"), t("c", "b"), t("b"), t("d", "zz")]);
    expect(details.map((d) => d.path).sort()).toEqual(["tasks.0.deps.0", "tasks.1.deps.0", "tasks.3.name", "tasks.4.deps.0"]);
    expect(details.some((d) => d.message.includes("b → c → b"))).toBe(true);
  });

  test("a 10,000-task chain validates without overflowing the stack", () => {
    expect(validateDag(chain(10_000))).toEqual([]);
  });

  test("a 200,000-task chain and ring, far deeper than any call stack, are handled iteratively", () => {
    const long = chain(200_000);
    expect(validateDag(long)).toEqual([]);
    expect(topologicalOrder(long).at(-1)).toBe(199_999);
    long[0] = t("t0", "t199999");
    expect(validateDag(long)[0]!.message).toContain("→ t199999 → t0");
  });

  test("a 10,000-task wide DAG validates", () => {
    expect(validateDag(wide(10_000))).toEqual([]);
  });

  test("a 10,000-task ring is found and its message stays short", () => {
    const ring = chain(10_000);
    ring[0] = t("t0", "t9999");
    const details = validateDag(ring);
    expect(details).toHaveLength(1);
    expect(details[0]!.message).toStartWith("dependency cycle: t0 → t1 → t2");
    expect(details[0]!.message).toContain("… 9989 more … → t9999 → t0");
    expect(details[0]!.message.length).toBeLessThan(300);
  });
});

describe("buildGraph", () => {
  test("successors and predecessors are index arrays", () => {
    const graph = buildGraph([t("a"), t("b", "a"), t("c", "a"), t("d", "b", "c")]);
    expect(graph.size).toBe(4);
    expect(graph.indexOf.get("d")).toBe(3);
    expect(Array.from(successors(graph, 0))).toEqual([1, 2]);
    expect(Array.from(successors(graph, 3))).toEqual([]);
    expect(Array.from(predecessors(graph, 3))).toEqual([1, 2]);
    expect(Array.from(predecessors(graph, 0))).toEqual([]);
    expect(graph.succ).toBeInstanceOf(Int32Array);
  });

  test("refuses unknown deps and duplicate names with the details", () => {
    expect(() => buildGraph([t("a", "x")])).toThrow(ValidationError);
    try {
      buildGraph([t("a"), t("a")]);
      throw new Error("expected a ValidationError");
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details[0]?.path).toBe("tasks.1.name");
    }
  });
});

describe("roots and topologicalOrder", () => {
  test("roots are the tasks without deps, in definition order", () => {
    expect(roots([t("c", "a"), t("a"), t("b")])).toEqual([1, 2]);
    expect(roots(buildGraph(wide(10)))).toEqual([0]);
  });

  test("orders a reversed chain", () => {
    expect(topologicalOrder([t("c", "b"), t("b", "a"), t("a")])).toEqual([2, 1, 0]);
  });

  test("keeps definition order among independent tasks", () => {
    expect(topologicalOrder([t("a"), t("b"), t("c", "a"), t("d")])).toEqual([0, 1, 3, 2]);
  });

  test("throws on a cycle, naming it", () => {
    expect(() => topologicalOrder([t("a", "b"), t("b", "a")])).toThrow("the tasks form a dependency cycle: a → b → a");
    expect(() => topologicalOrder([t("a", "a")])).toThrow("a → a");
  });

  test("10,000-task chain, wide and random DAGs come out in dependency order", () => {
    const random: DagTask[] = [];
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 10_000; i++) {
      const deps = new Set<string>();
      for (let k = 0; k < 3 && i > 0; k++) deps.add(`r${Math.floor(next() * i)}`);
      random.push(t(`r${i}`, ...deps));
    }
    // Shuffle definition order so the sort has real work to do.
    for (let i = random.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [random[i], random[j]] = [random[j]!, random[i]!];
    }
    for (const tasks of [chain(10_000), wide(10_000), random]) {
      expect(validateDag(tasks)).toEqual([]);
      expectTopological(tasks, topologicalOrder(tasks));
    }
  });
});

test("findCycle returns null for a DAG and a closed walk along deps otherwise", () => {
  expect(findCycle(buildGraph(chain(100)))).toBeNull();
  const tasks = [t("a", "c"), t("b", "a"), t("c", "b"), t("d", "c")];
  const graph = buildGraph(tasks);
  const cycle = findCycle(graph)!;
  expect(formatCycle(graph.names, cycle)).toBe("a → b → c → a");
  for (let k = 0; k < cycle.length; k++) {
    const from = cycle[k]!;
    const to = cycle[(k + 1) % cycle.length]!;
    expect(tasks[to]!.deps).toContain(tasks[from]!.name);
  }
});
