import { describe, expect, test } from "bun:test";
import { ValidationError, type ErrorDetail } from "../../src/core/errors.ts";
import {
  DEPENDENT_DATE_VALUES,
  parseWorkflowDefinition,
  workflowDefinitionSchema,
  type WorkflowDefinition,
} from "../../src/core/workflow-schema.ts";
import { parseWorkflowText } from "../../src/core/workflow-text.ts";

// The example of issue 2 §7, verbatim.
const ISSUE_EXAMPLE = `
name: etl-daily
description: nightly load
params: { region: eu }             # global params
timeout: 2h                        # durations: seconds as a number, or 30s / 5m / 2h
executionType: PARALLEL            # PARALLEL | SERIAL_WAIT | SERIAL_DISCARD | SERIAL_PRIORITY
tasks:
  - name: extract
    type: shell
    script: echo "extract \${region}"
    retries: 2
    retryInterval: 10s
    timeout: 10m
    timeoutStrategy: FAILED        # WARN | FAILED
    priority: MEDIUM               # HIGHEST | HIGH | MEDIUM | LOW | LOWEST
    workerGroup: default
    flag: YES                      # YES = run, NO = forbidden (skipped)
  - name: load
    type: http
    deps: [extract]
    url: http://127.0.0.1:8080/load
    method: POST
`;

const defaults = {
  description: "",
  deps: [] as string[],
  retries: 0,
  retryInterval: 60,
  timeoutStrategy: "FAILED",
  priority: "MEDIUM",
  workerGroup: "default",
  flag: "YES",
  delay: 0,
  params: {},
} as const;

const EXPECTED_EXAMPLE: WorkflowDefinition = {
  name: "etl-daily",
  description: "nightly load",
  params: { region: "eu" },
  timeout: 7200,
  executionType: "PARALLEL",
  tasks: [
    {
      ...defaults,
      name: "extract",
      type: "shell",
      script: 'echo "extract ${region}"',
      retries: 2,
      retryInterval: 10,
      timeout: 600,
      env: {},
    },
    { ...defaults, name: "load", type: "http", deps: ["extract"], url: "http://127.0.0.1:8080/load", method: "POST", headers: {} },
  ],
};

/** The details of the ValidationError that parsing `input` must throw. */
function problems(input: unknown): ErrorDetail[] {
  try {
    parseWorkflowDefinition(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details;
  }
  throw new Error("expected the definition to be rejected");
}

function workflow(tasks: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: "wf", tasks, ...extra };
}

const noop = (name: string, extra: Record<string, unknown> = {}) => ({ name, type: "noop", ...extra });

describe("valid definitions", () => {
  test("the issue's YAML example parses and normalises", () => {
    expect(parseWorkflowText(ISSUE_EXAMPLE)).toEqual(EXPECTED_EXAMPLE);
  });

  test("the same definition as JSON gives the same result", () => {
    const json = JSON.stringify(Bun.YAML.parse(ISSUE_EXAMPLE));
    expect(parseWorkflowText(json)).toEqual(EXPECTED_EXAMPLE);
    expect(parseWorkflowText(json, "json")).toEqual(EXPECTED_EXAMPLE);
    expect(parseWorkflowDefinition(JSON.parse(json))).toEqual(EXPECTED_EXAMPLE);
  });

  test("a minimal workflow gets every default", () => {
    const expected: WorkflowDefinition = {
      name: "wf",
      description: "",
      params: {},
      executionType: "PARALLEL",
      tasks: [{ ...defaults, name: "only", type: "noop" }],
    };
    expect(parseWorkflowDefinition(workflow([noop("only")]))).toEqual(expected);
  });

  test("flag accepts YES/NO and YAML booleans", () => {
    const def = parseWorkflowText(`
name: flags
tasks:
  - { name: a, type: noop, flag: true }
  - { name: b, type: noop, flag: false }
  - { name: c, type: noop, flag: "NO" }
  - { name: d, type: noop, flag: YES }
`);
    expect(def.tasks.map((task) => task.flag)).toEqual(["YES", "NO", "NO", "YES"]);
  });

  test("params and env values are normalised to strings", () => {
    const def = parseWorkflowDefinition(
      workflow([{ name: "s", type: "shell", script: "env", env: { PORT: 8080, DEBUG: true }, params: { "system.biz.date": "x", n: 1.5 } }], {
        params: { batch: 100, dry: false, region: "eu" },
      }),
    );
    expect(def.params).toEqual({ batch: "100", dry: "false", region: "eu" });
    expect(def.tasks[0]).toMatchObject({ env: { PORT: "8080", DEBUG: "true" }, params: { "system.biz.date": "x", n: "1.5" } });
  });

  test("every execution type, timeout strategy and priority is accepted", () => {
    for (const executionType of ["PARALLEL", "SERIAL_WAIT", "SERIAL_DISCARD", "SERIAL_PRIORITY"]) {
      expect(parseWorkflowDefinition(workflow([noop("a")], { executionType })).executionType).toBe(executionType as never);
    }
    const tasks = ["HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST"].map((priority, i) => noop(`t${i}`, { priority, timeoutStrategy: "WARN" }));
    expect(parseWorkflowDefinition(workflow(tasks)).tasks.map((task) => task.priority)).toEqual(["HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST"]);
  });

  test("every task type with all of its fields", () => {
    const def = parseWorkflowDefinition(
      workflow([
        { name: "sh", type: "shell", script: "echo hi" },
        { name: "py", type: "python", script: "print(1)", deps: ["sh"] },
        {
          name: "call", type: "http", url: "https://example.com/${path}", method: "PUT", headers: { "X-Token": "t", "X-Count": 3 },
          body: "{}", expectedStatus: [200, 201], bodyContains: "ok", requestTimeout: "30s",
        },
        { name: "q", type: "sql", datasource: "warehouse", sql: "select 1", sqlType: "QUERY" },
        { name: "child", type: "sub_workflow", workflow: "other", project: "p2", params: { day: "2024-01-01" } },
        { name: "cond", type: "conditions", deps: ["sh", "py"], relation: "OR", dependOn: [{ task: "sh", state: "FAILURE" }], successNext: ["ok"], failedNext: ["bad"] },
        noop("ok", { deps: ["cond"] }),
        noop("bad", { deps: ["cond"] }),
        { name: "route", type: "switch", cases: [{ when: '${region} == "eu"', next: "eu" }], default: "other" },
        noop("eu", { deps: ["route"] }),
        noop("other", { deps: ["route"] }),
        { name: "wait", type: "dependent", relation: "OR", checkInterval: "1m", dependOn: [{ workflow: "upstream", task: "t", cycle: "day", dateValue: "last1Days" }] },
      ]),
    );
    expect(def.tasks.map((task) => task.type)).toEqual(["shell", "python", "http", "sql", "sub_workflow", "conditions", "noop", "noop", "switch", "noop", "noop", "dependent"]);
    expect(def.tasks[2]).toMatchObject({ headers: { "X-Token": "t", "X-Count": "3" }, expectedStatus: [200, 201], requestTimeout: 30 });
    expect(def.tasks[11]).toMatchObject({ checkInterval: 60, relation: "OR" });
  });

  test("defaults of the per-type fields", () => {
    const def = parseWorkflowDefinition(
      workflow([
        { name: "h", type: "http", url: "http://x.test" },
        { name: "c", type: "conditions" },
        { name: "d", type: "dependent", dependOn: [{ workflow: "w", cycle: "hour", dateValue: "currentHour" }] },
      ]),
    );
    expect(def.tasks[0]).toMatchObject({ method: "GET", headers: {} });
    expect(def.tasks[0]).not.toHaveProperty("expectedStatus");
    expect(def.tasks[1]).toMatchObject({ relation: "AND", successNext: [], failedNext: [] });
    expect(def.tasks[1]).not.toHaveProperty("dependOn");
    expect(def.tasks[2]).toMatchObject({ relation: "AND", checkInterval: 10 });
  });

  test("every DolphinScheduler date value is accepted with its cycle", () => {
    const dependOn = Object.entries(DEPENDENT_DATE_VALUES).flatMap(([cycle, values]) => values.map((dateValue) => ({ workflow: "w", cycle, dateValue })));
    expect(dependOn.length).toBe(25);
    expect(() => parseWorkflowDefinition(workflow([{ name: "d", type: "dependent", dependOn }]))).not.toThrow();
  });

  test("names of exactly 200 characters are fine", () => {
    expect(() => parseWorkflowDefinition({ name: "w".repeat(200), tasks: [noop("t".repeat(200))] })).not.toThrow();
  });

  test("the schema alone, without parseWorkflowDefinition, also checks the graph", () => {
    const result = workflowDefinitionSchema.safeParse(workflow([noop("a", { deps: ["b"] }), noop("b", { deps: ["a"] })]));
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain("a → b → a");
  });
});

describe("graph rejections", () => {
  test("a cycle is listed as a → b → a", () => {
    expect(problems(workflow([noop("a", { deps: ["b"] }), noop("b", { deps: ["a"] })]))).toEqual([
      { path: "tasks.0.deps.0", message: "dependency cycle: a → b → a; a task cannot wait for itself, remove one of these deps" },
    ]);
  });

  test("a self-loop", () => {
    expect(problems(workflow([noop("a", { deps: ["a"] })]))).toEqual([
      { path: "tasks.0.deps.0", message: 'task "a" depends on itself (a → a); remove "a" from its deps' },
    ]);
  });

  test("a dep on an unknown task", () => {
    expect(problems(workflow([noop("a"), noop("b", { deps: ["c"] })]))).toEqual([
      { path: "tasks.1.deps.0", message: 'unknown task "c"; deps must name tasks of this workflow' },
    ]);
  });

  test("duplicate task names", () => {
    expect(problems(workflow([noop("a"), noop("a")]))).toEqual([
      { path: "tasks.1.name", message: 'duplicate task name "a" (also used by tasks.0); task names must be unique' },
    ]);
  });

  test("field problems and graph problems come in one answer", () => {
    const details = problems(workflow([noop("a", { retries: -1, deps: ["b"] }), noop("b", { deps: ["a"] })]));
    expect(details).toEqual([
      { path: "tasks.0.retries", message: "expected an integer between 0 and 100, got -1" },
      { path: "tasks.0.deps.0", message: "dependency cycle: a → b → a; a task cannot wait for itself, remove one of these deps" },
    ]);
  });
});
