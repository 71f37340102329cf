import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../src/core/errors.ts";
import { builtinParams, MAX_REFERENCE_DEPTH, mergeUpstreamOut, resolveParams, type ResolveInput, type UpstreamOut } from "../../src/core/params/index.ts";

const BASE = { baseTime: new Date("2024-03-15T10:20:30Z"), timezone: "UTC" };

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error("expected a ValidationError");
}

const up = (taskName: string, finishedAt: number | null, params: Record<string, string>): UpstreamOut => ({ taskName, finishedAt, params });

describe("priority: startup > local > upstream OUT > global > project > built-ins", () => {
  const all: Omit<ResolveInput, "baseTime" | "timezone"> = {
    builtins: { x: "builtin" },
    project: { x: "project" },
    global: { x: "global" },
    upstreamOut: [up("a", 1, { x: "upstream" })],
    local: { x: "local" },
    startup: { x: "startup" },
  };
  const layers = ["startup", "local", "upstreamOut", "global", "project", "builtins"] as const;
  test.each(layers.map((layer, i) => [layer, layers.slice(i)] as const))("%s wins over the layers below it", (winner, present) => {
    const input: ResolveInput = { ...BASE };
    for (const layer of present) Object.assign(input, { [layer]: all[layer] });
    const expected = winner === "upstreamOut" ? "upstream" : winner === "builtins" ? "builtin" : winner;
    expect(resolveParams(input).x).toBe(expected);
  });

  test("names from every layer are in the result", () => {
    const out = resolveParams({ ...BASE, builtins: { b: "1" }, project: { p: "2" }, global: { g: "3" }, upstreamOut: [up("a", 1, { u: "4" })], local: { l: "5" }, startup: { s: "6" } });
    expect(out).toEqual({ b: "1", p: "2", g: "3", u: "4", l: "5", s: "6" });
  });

  test("a startup system.biz.date overrides the built-in (rerun for another day)", () => {
    const builtins = builtinParams({ ...BASE, taskInstanceId: 1, taskName: "t", workflowInstanceId: 2, workflowName: "w", projectName: "p" });
    const out = resolveParams({ ...BASE, builtins, startup: { "system.biz.date": "20200101" }, local: { d: "${system.biz.date}" } });
    expect(out["system.biz.date"]).toBe("20200101");
    expect(out.d).toBe("20200101");
    expect(out["system.biz.curdate"]).toBe("20240315");
  });
});

describe("upstream OUT params from several tasks", () => {
  test.each([
    ["non-empty beats empty even when the empty one finished first", [up("a", 1, { k: "" }), up("b", 2, { k: "b" })], "b"],
    ["of two non-empty values the one that finished first wins", [up("a", 2, { k: "a" }), up("b", 1, { k: "b" })], "b"],
    ["list order does not matter, finish time does", [up("b", 1, { k: "b" }), up("a", 2, { k: "a" })], "b"],
    ["equal finish times: list order", [up("a", 5, { k: "a" }), up("b", 5, { k: "b" })], "a"],
    ["unknown finish time sorts last", [up("a", null, { k: "a" }), up("b", 9, { k: "b" })], "b"],
    ["all empty gives empty", [up("a", 1, { k: "" }), up("b", 2, { k: "" })], ""],
    ["three tasks, the earliest non-empty", [up("a", 1, { k: "" }), up("b", 3, { k: "b" }), up("c", 2, { k: "c" })], "c"],
    ["Dates work as finish times", [up("a", null, {}), { taskName: "b", finishedAt: new Date(2000), params: { k: "b" } }, { taskName: "c", finishedAt: new Date(1000), params: { k: "c" } }], "c"],
  ] as const)("%s", (_why, upstream, expected) => {
    expect(mergeUpstreamOut(upstream).k).toBe(expected);
    expect(resolveParams({ ...BASE, upstreamOut: upstream }).k).toBe(expected);
  });

  test("different names from different tasks are all kept", () => {
    expect(mergeUpstreamOut([up("a", 1, { x: "1" }), up("b", 2, { y: "2" })])).toEqual({ x: "1", y: "2" });
  });
});

describe("references between params", () => {
  test.each([
    ["a plain reference", { a: "${b}", b: "hello" }, "a", "hello"],
    ["a chain", { a: "${b}-x", b: "${c}-y", c: "z" }, "a", "z-y-x"],
    ["several in one value", { a: "${b}/${c}/${b}", b: "1", c: "2" }, "a", "1/2/1"],
    ["a nested name", { a: "${db_${env}}", env: "prod", db_prod: "pg1" }, "a", "pg1"],
    ["an unknown name stays as written", { a: "${HOME}/x" }, "a", "${HOME}/x"],
    ["setValue stays for the task to print", { a: "${setValue(k=v)}" }, "a", "${setValue(k=v)}"],
    ["bash default syntax stays", { a: "${x:-1}" }, "a", "${x:-1}"],
    ["an unclosed brace stays", { a: "${b", b: "1" }, "a", "${b"],
    ["a value is not re-read after insertion when it has none", { a: "${b}", b: "$x" }, "a", "$x"],
    ["a time expression inside a value", { a: "$[yyyyMMdd-1]" }, "a", "20240314"],
    ["a reference inside a time expression", { a: "$[yyyyMMdd-${n}]", n: "3" }, "a", "20240312"],
    ["a reference to a time-expression param", { a: "${d}_part", d: "$[yyyy-MM-dd]" }, "a", "2024-03-15_part"],
    ["add_months with a referenced count", { a: "$[add_months(yyyyMM,-${m})]", m: "12*2" }, "a", "202203"],
  ] as const)("%s", (_why, local, name, expected) => {
    expect(resolveParams({ ...BASE, local })[name]).toBe(expected);
  });

  test("a value that names itself reaches the next layer down", () => {
    const out = resolveParams({ ...BASE, global: { dt: "20240101" }, local: { dt: "${dt}_x" }, startup: { dt: "${dt}!" } });
    expect(out.dt).toBe("20240101_x!");
  });

  test("a self-reference with nothing below stays as written", () => {
    expect(resolveParams({ ...BASE, local: { dt: "${dt}" } }).dt).toBe("${dt}");
  });

  test("a lower layer's value refers to the winning value of another name", () => {
    const out = resolveParams({ ...BASE, global: { path: "/data/${day}" }, project: { day: "p" }, startup: { day: "s" } });
    expect(out.path).toBe("/data/s");
  });
});

describe("cycles, depth and size", () => {
  test("two params referring to each other", () => {
    const e = errorOf(() => resolveParams({ ...BASE, local: { a: "${b}", b: "${a}" } }));
    expect(e.message).toContain("cycle: a → b → a");
    expect(e.details[0]!.path).toBe("local.a");
  });

  test("a cycle across layers", () => {
    const e = errorOf(() => resolveParams({ ...BASE, global: { a: "x${b}" }, project: { b: "${c}" }, startup: { c: "${a}" } }));
    // the chain starts wherever resolution entered the cycle
    expect(e.message).toMatch(/cycle: (a → b → c → a|b → c → a → b|c → a → b → c);/);
  });

  test("a self-cycle through a lower layer", () => {
    const e = errorOf(() => resolveParams({ ...BASE, global: { a: "${b}" }, local: { a: "${a}", b: "${a}" } }));
    expect(e.message).toContain("cycle");
  });

  const chain = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i === n - 1 ? "end" : `\${p${i + 1}}`]));

  test(`a chain of ${MAX_REFERENCE_DEPTH} resolves`, () => {
    expect(resolveParams({ ...BASE, local: chain(MAX_REFERENCE_DEPTH) }).p0).toBe("end");
  });

  test(`a chain longer than ${MAX_REFERENCE_DEPTH} is refused with the chain named`, () => {
    const e = errorOf(() => resolveParams({ ...BASE, local: chain(MAX_REFERENCE_DEPTH + 5) }));
    expect(e.message).toContain(`deeper than ${MAX_REFERENCE_DEPTH} levels (p0 → p1 → p2`);
  });

  test("maxDepth can be lowered", () => {
    expect(errorOf(() => resolveParams({ ...BASE, local: chain(5), maxDepth: 3 })).message).toContain("deeper than 3 levels");
  });

  test("a value that doubles at every level is stopped", () => {
    const local: Record<string, string> = { p25: "xxxxxxxxxxxxxxxx" };
    for (let i = 0; i < 25; i++) local[`p${i}`] = `\${p${i + 1}}\${p${i + 1}}`;
    expect(errorOf(() => resolveParams({ ...BASE, local })).message).toContain("expands to more than");
  });
});

describe("base time of time expressions", () => {
  test("a system.datetime set above the built-ins moves the base, as in DS", () => {
    const builtins = builtinParams({ ...BASE, taskInstanceId: 1, taskName: "t", workflowInstanceId: 2, workflowName: "w", projectName: "p" });
    const out = resolveParams({ ...BASE, builtins, startup: { "system.datetime": "20200101083000" }, local: { d: "$[yyyyMMdd-1]", h: "$[HH:mm]" } });
    expect(out.d).toBe("20191231");
    expect(out.h).toBe("08:30");
    expect(out["system.biz.date"]).toBe("20240314");
  });

  test("a bad system.datetime override names itself", () => {
    const e = errorOf(() => resolveParams({ ...BASE, startup: { "system.datetime": "2020-01-01" }, local: { d: "$[yyyyMMdd]" } }));
    expect(e.message).toContain("system.datetime");
    expect(e.message).toContain("yyyyMMddHHmmss");
    expect(e.details[0]!.path).toBe("startup.system.datetime");
  });

  test("the timezone decides the calendar", () => {
    expect(resolveParams({ baseTime: new Date("2024-03-15T20:00:00Z"), timezone: "Asia/Shanghai", local: { d: "$[yyyyMMdd]" } }).d).toBe("20240316");
  });

  test("a bad time expression names the param and its layer", () => {
    const e = errorOf(() => resolveParams({ ...BASE, global: { bad: "x $[yyyyMMdd-1/0]" } }));
    expect(e.message).toStartWith('param "bad" (global): time expression $[yyyyMMdd-1/0]: offset "-1/0": divides by zero');
    expect(e.details[0]!.path).toBe("global.bad");
  });

  test("an unknown timezone is refused", () => {
    expect(errorOf(() => resolveParams({ baseTime: new Date(), timezone: "Nowhere/Here" })).message).toContain("unknown timezone");
  });
});
