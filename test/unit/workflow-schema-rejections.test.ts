// Every way a definition can be wrong gets a ValidationError whose details name the field
// and say what is expected and what was given.

import { describe, expect, test } from "bun:test";
import { ValidationError, type ErrorDetail } from "../../src/core/errors.ts";
import { MAX_TASKS, parseWorkflowDefinition, TASK_TYPES, workflowDefinitionSchema } from "../../src/core/workflow-schema.ts";
import { MAX_DETAILS } from "../../src/core/zod-details.ts";

function rejection(input: unknown): ValidationError {
  try {
    parseWorkflowDefinition(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error("expected the definition to be rejected");
}

/** Asymmetric matcher for a message that starts with `prefix` (bun has no expect.stringStartingWith). */
const startsWith = (prefix: string) => expect.stringMatching(new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
const problems = (input: unknown): ErrorDetail[] => rejection(input).details;
const workflow = (tasks: unknown[], extra: Record<string, unknown> = {}) => ({ name: "wf", tasks, ...extra });
const noop = (name: string, extra: Record<string, unknown> = {}) => ({ name, type: "noop", ...extra });

/** The smallest valid task of each type; tests add or remove one field. */
const MINIMAL: Record<(typeof TASK_TYPES)[number], Record<string, unknown>> = {
  shell: { name: "t", type: "shell", script: "true" },
  python: { name: "t", type: "python", script: "pass" },
  http: { name: "t", type: "http", url: "http://x.test" },
  sql: { name: "t", type: "sql", datasource: "db", sql: "select 1" },
  sub_workflow: { name: "t", type: "sub_workflow", workflow: "child" },
  conditions: { name: "t", type: "conditions" },
  switch: { name: "t", type: "switch", cases: [{ when: "true", next: "n" }] },
  dependent: { name: "t", type: "dependent", dependOn: [{ workflow: "w", cycle: "day", dateValue: "today" }] },
  noop: { name: "t", type: "noop" },
};
// The switch's branch target must exist downstream for the minimal switch to be valid.
const withSupport = (task: Record<string, unknown>) => (task.type === "switch" ? [task, noop("n", { deps: ["t"] })] : [task]);

describe("the error itself", () => {
  test("one problem: the message is that problem", () => {
    const error = rejection(workflow([noop("a", { retries: -1 })]));
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.status).toBe(400);
    expect(error.message).toBe("workflow definition is invalid: tasks.0.retries: expected an integer between 0 and 100, got -1");
    expect(error.details).toEqual([{ path: "tasks.0.retries", message: "expected an integer between 0 and 100, got -1" }]);
  });

  test("several problems: counted, the first one quoted", () => {
    const error = rejection(workflow([noop("a", { retries: 101, priority: "URGENT" })], { executionType: "SERIAL" }));
    expect(error.message).toStartWith("workflow definition is invalid: 3 problems (first: ");
    expect(error.details.map((d) => d.path).sort()).toEqual(["executionType", "tasks.0.priority", "tasks.0.retries"]);
  });

  test("a flood of problems is capped with a count of the rest", () => {
    const tasks = Array.from({ length: 300 }, (_, i) => noop(`t${i}`, { retries: -1 }));
    const error = rejection(workflow(tasks));
    expect(error.message).toStartWith("workflow definition is invalid: 300 problems");
    expect(error.details).toHaveLength(MAX_DETAILS + 1);
    expect(error.details.at(-1)).toEqual({ path: "", message: "... and 200 more problems" });
  });

  test.each([[null], [[]], ["name: x"], [42]])("a non-object %p", (input) => {
    expect(problems(input)).toEqual([{ path: "", message: startsWith("expected an object, got ") }]);
  });
});

describe("workflow fields", () => {
  test("required fields", () => {
    expect(problems({})).toEqual([
      { path: "name", message: "required field is missing; expected a string" },
      { path: "tasks", message: "required field is missing; expected an array" },
    ]);
  });

  test("no tasks, and more than 10,000 tasks", () => {
    expect(problems(workflow([]))).toEqual([{ path: "tasks", message: "a workflow needs at least one task" }]);
    const tooMany = Array.from({ length: MAX_TASKS + 1 }, (_, i) => noop(`t${i}`));
    expect(problems(workflow(tooMany))).toEqual([{ path: "tasks", message: "a workflow has at most 10000 tasks, got 10001" }]);
  });

  test("the schema's own limit agrees when used without parseWorkflowDefinition", () => {
    const tooMany = Array.from({ length: MAX_TASKS + 1 }, (_, i) => noop(`t${i}`));
    expect(workflowDefinitionSchema.safeParse(workflow(tooMany)).success).toBe(false);
  });

  test.each([
    ["w".repeat(201), "a workflow name must be at most 200 characters, got 201"],
    ["", "a workflow name must not be empty"],
    [" etl", 'a workflow name must not start or end with spaces, got " etl"'],
    ["etl\t", "a workflow name must not contain control characters (found U+0009 at position 4)"],
    ["a/b", 'a workflow name must not contain "/" (it separates names in API paths), got "a/b"'],
    [12, "expected a string, got 12"],
  ])("workflow name %p", (name, message) => {
    expect(problems({ name, tasks: [noop("a")] })).toEqual([{ path: "name", message }]);
  });

  test("200 astral characters count as 200, not 400 UTF-16 units", () => {
    expect(() => parseWorkflowDefinition({ name: "🐬".repeat(200), tasks: [noop("a")] })).not.toThrow();
    expect(problems({ name: "🐬".repeat(201), tasks: [noop("a")] })[0]?.message).toContain("got 201");
  });

  test("unknown top-level field, with a suggestion", () => {
    expect(problems(workflow([noop("a")], { timout: "1h" }))).toEqual([{ path: "timout", message: 'unknown field "timout" (did you mean "timeout"?)' }]);
  });

  test("bad workflow timeout and execution type", () => {
    expect(problems(workflow([noop("a")], { timeout: "2 hours", executionType: "parallel" }))).toEqual([
      { path: "timeout", message: startsWith('expected seconds as a number or a duration like 30s, 5m, 2h; got "2 hours"') },
      { path: "executionType", message: 'expected one of "PARALLEL", "SERIAL_WAIT", "SERIAL_DISCARD", "SERIAL_PRIORITY", got "parallel" (write it in capitals: "PARALLEL")' },
    ]);
    expect(problems(workflow([noop("a")], { timeout: 0 }))).toEqual([
      { path: "timeout", message: "timeout must be more than 0; leave the field out for no timeout" },
    ]);
  });

  test("params: bad names and values", () => {
    expect(problems(workflow([noop("a")], { params: { "my var": "x", ok: null, list: [1] } }))).toEqual([
      { path: "params.my var", message: expect.stringContaining('parameter names start with a letter or "_"') },
      { path: "params.ok", message: "expected a string, number or true/false, got null" },
      { path: "params.list", message: "expected a string, number or true/false, got an array of 1 item" },
    ]);
  });
});

describe("common task fields", () => {
  test.each([
    [{ retries: -1 }, "tasks.0.retries", "expected an integer between 0 and 100, got -1"],
    [{ retries: 101 }, "tasks.0.retries", "expected an integer between 0 and 100, got 101"],
    [{ retries: 1.5 }, "tasks.0.retries", "expected an integer between 0 and 100, got 1.5"],
    [{ retries: "2" }, "tasks.0.retries", 'expected an integer between 0 and 100, got "2"'],
    [{ retryInterval: "soon" }, "tasks.0.retryInterval", expect.stringContaining('got "soon"')],
    [{ timeout: "-1m" }, "tasks.0.timeout", expect.stringContaining("non-negative")],
    [{ delay: true }, "tasks.0.delay", "expected seconds as a number or a duration like 30s, 5m, 2h; got true"],
    [{ timeoutStrategy: "KILL" }, "tasks.0.timeoutStrategy", 'expected one of "WARN", "FAILED", got "KILL"'],
    [{ priority: "high" }, "tasks.0.priority", expect.stringContaining('(write it in capitals: "HIGH")')],
    [{ flag: "maybe" }, "tasks.0.flag", 'expected YES (run) or NO (skip), or true/false, got "maybe"'],
    [{ flag: "yes" }, "tasks.0.flag", 'expected YES (run) or NO (skip), or true/false, got "yes"'],
    [{ workerGroup: "" }, "tasks.0.workerGroup", "a worker group name must not be empty"],
    [{ deps: "a" }, "tasks.0.deps", 'expected an array, got "a"'],
    [{ deps: [1] }, "tasks.0.deps.0", "expected a string, got 1"],
    [{ description: 5 }, "tasks.0.description", "expected a string, got 5"],
    [{ name: "t".repeat(201) }, "tasks.0.name", "a task name must be at most 200 characters, got 201"],
    [{ name: "line\nbreak" }, "tasks.0.name", "a task name must not contain control characters (found U+000a at position 5)"],
    [{ name: "a " }, "tasks.0.name", 'a task name must not start or end with spaces, got "a "'],
  ])("%p", (fields, path, message) => {
    expect(problems(workflow([noop("a", fields)]))).toEqual([{ path, message }]);
  });

  test("one name rule for tasks, workflows, worker groups and datasources: no slash, bidi controls or dot segments", () => {
    expect(problems(workflow([noop("load/eu")]))).toEqual([
      { path: "tasks.0.name", message: 'a task name must not contain "/" (it separates names in API paths), got "load/eu"' },
    ]);
    expect(problems(workflow([noop("invoice\u202Etxt.exe")]))).toEqual([
      { path: "tasks.0.name", message: "a task name must not contain bidi or invisible formatting characters (found U+202e at position 8)" },
    ]);
    expect(problems(workflow([noop("a", { workerGroup: "eu\u2066x" })]))[0]?.message).toContain("bidi");
    expect(problems(workflow([noop("..")]))[0]?.message).toBe('a task name cannot be "..": it is not addressable in a URL path');
    expect(problems({ ...workflow([noop("a")]), name: "w\u200Fx" })[0]).toMatchObject({ path: "name", message: expect.stringContaining("U+200f") });
    // Scripts that need joiners keep them (Persian uses ZWNJ).
    expect(() => parseWorkflowDefinition(workflow([noop("می\u200Cخواهم")]))).not.toThrow();
  });

  test("a task without a type or with an unknown type lists the known types", () => {
    const known = TASK_TYPES.join(", ");
    expect(problems(workflow([{ name: "a" }, { name: "b", type: "spark" }]))).toEqual([
      { path: "tasks.0.type", message: `missing field "type"; expected one of: ${known}` },
      { path: "tasks.1.type", message: `unknown type "spark"; known types: ${known}` },
    ]);
  });
});

describe("per-type fields", () => {
  test.each(TASK_TYPES.map((type) => [type]))("%s: an unknown field is an error", (type) => {
    const task = { ...MINIMAL[type], scirpt: "x" };
    const details = problems(workflow(withSupport(task)));
    expect(details).toEqual([{ path: "tasks.0.scirpt", message: startsWith('unknown field "scirpt"') }]);
  });

  test("a field of another type is unknown here", () => {
    expect(problems(workflow([{ ...MINIMAL.noop, script: "echo" }, { ...MINIMAL.http, name: "h", env: { A: "1" } }]))).toEqual([
      { path: "tasks.0.script", message: 'unknown field "script"' },
      { path: "tasks.1.env", message: 'unknown field "env"' },
    ]);
  });

  test.each([
    ["shell", "script"],
    ["python", "script"],
    ["http", "url"],
    ["sql", "datasource"],
    ["sql", "sql"],
    ["sub_workflow", "workflow"],
    ["switch", "cases"],
    ["dependent", "dependOn"],
  ] as const)("%s requires %s", (type, field) => {
    const { [field]: _removed, ...task } = MINIMAL[type];
    const details = problems(workflow(withSupport(task)));
    expect(details).toEqual([{ path: `tasks.0.${field}`, message: startsWith("required field is missing; expected ") }]);
  });

  test.each([
    [{ ...MINIMAL.shell, script: "   " }, "tasks.0.script", "script must not be empty"],
    [{ ...MINIMAL.shell, env: { "1BAD": "x" } }, "tasks.0.env.1BAD", expect.stringContaining("environment variable names")],
    [{ ...MINIMAL.sql, sql: "" }, "tasks.0.sql", "sql must not be empty"],
    [{ ...MINIMAL.sql, sqlType: "DDL" }, "tasks.0.sqlType", 'expected one of "QUERY", "NON_QUERY", got "DDL"'],
    [{ ...MINIMAL.http, url: "ftp://x.test" }, "tasks.0.url", 'expected an http:// or https:// URL, got "ftp://x.test"'],
    [{ ...MINIMAL.http, url: "http://exa mple.com:99999" }, "tasks.0.url", 'expected a valid URL, got "http://exa mple.com:99999"'],
    [{ ...MINIMAL.http, method: "FETCH" }, "tasks.0.method", startsWith('expected one of "GET", "POST"')],
    [{ ...MINIMAL.http, expectedStatus: 700 }, "tasks.0.expectedStatus", "expected an integer between 100 and 599, got 700"],
    [{ ...MINIMAL.http, expectedStatus: [200, "ok"] }, "tasks.0.expectedStatus.1", 'expected an integer between 100 and 599, got "ok"'],
    [{ ...MINIMAL.http, expectedStatus: [] }, "tasks.0.expectedStatus", expect.stringContaining("expected")],
    [{ ...MINIMAL.http, headers: { "Bad Header": "x" } }, "tasks.0.headers.Bad Header", expect.stringContaining("expected an HTTP header name")],
    [{ ...MINIMAL.http, body: "{}" }, "tasks.0.body", 'a GET request cannot have a body; use POST, PUT or PATCH, or remove "body"'],
    [{ ...MINIMAL.http, requestTimeout: "0s" }, "tasks.0.requestTimeout", expect.stringContaining("must be more than 0")],
    [{ ...MINIMAL.sub_workflow, workflow: "a/b" }, "tasks.0.workflow", expect.stringContaining('must not contain "/"')],
    [{ ...MINIMAL.sub_workflow, workflow: "wf" }, "tasks.0.workflow", 'workflow "wf" cannot run itself as a sub-workflow'],
    [{ ...MINIMAL.conditions, relation: "XOR" }, "tasks.0.relation", 'expected one of "AND", "OR", got "XOR"'],
    [{ ...MINIMAL.conditions, dependOn: [{ task: "x" }] }, "tasks.0.dependOn.0.state", "required field is missing; expected one of \"SUCCESS\", \"FAILURE\""],
    [{ ...MINIMAL.switch, cases: [] }, "tasks.0.cases", "expected at least 1 item, got none"],
    [{ ...MINIMAL.switch, cases: [{ when: "", next: "n" }] }, "tasks.0.cases.0.when", "when must not be empty"],
    [{ ...MINIMAL.dependent, dependOn: [] }, "tasks.0.dependOn", "expected at least 1 item, got none"],
    [{ ...MINIMAL.dependent, checkInterval: "100ms" }, "tasks.0.checkInterval", "checkInterval must be at least 1s"],
    [{ ...MINIMAL.dependent, dependOn: [{ workflow: "w", cycle: "year", dateValue: "today" }] }, "tasks.0.dependOn.0.cycle", 'expected one of "hour", "day", "week", "month", got "year"'],
    [{ ...MINIMAL.dependent, dependOn: [{ workflow: "w", cycle: "day", dateValue: "yesterday" }] }, "tasks.0.dependOn.0.dateValue", expect.stringContaining('got "yesterday"')],
    [
      { ...MINIMAL.dependent, dependOn: [{ workflow: "w", cycle: "day", dateValue: "lastWeek" }] },
      "tasks.0.dependOn.0.dateValue",
      '"lastWeek" is not a day date value; for cycle day use one of today, last1Days, last2Days, last3Days, last7Days',
    ],
    [{ ...MINIMAL.dependent, dependOn: [{ cycle: "day", dateValue: "today" }] }, "tasks.0.dependOn.0.workflow", "required field is missing; expected a string"],
  ])("%p", (task, path, message) => {
    expect(problems(workflow(withSupport(task)))).toEqual([{ path, message }]);
  });
});

describe("branches of conditions and switch tasks", () => {
  test("branch targets must list the deciding task in their deps", () => {
    const details = problems(
      workflow([
        { name: "cond", type: "conditions", successNext: ["ok"], failedNext: ["bad"] },
        noop("ok"),
        noop("bad", { deps: ["cond"] }),
        { name: "sw", type: "switch", cases: [{ when: "1 == 1", next: "one" }], default: "other" },
        noop("one"),
        noop("other"),
      ]),
    );
    expect(details).toEqual([
      { path: "tasks.0.successNext.0", message: 'branch target "ok" must list "cond" in its deps (it runs only when "cond" chooses it); add "cond" to tasks.1.deps' },
      { path: "tasks.3.cases.0.next", message: 'branch target "one" must list "sw" in its deps (it runs only when "sw" chooses it); add "sw" to tasks.4.deps' },
      { path: "tasks.3.default", message: 'branch target "other" must list "sw" in its deps (it runs only when "sw" chooses it); add "sw" to tasks.5.deps' },
    ]);
  });

  test("branch targets must be tasks of the workflow, and not the deciding task", () => {
    expect(problems(workflow([{ name: "cond", type: "conditions", successNext: ["missing"], failedNext: ["cond"] }]))).toEqual([
      { path: "tasks.0.successNext.0", message: 'unknown task "missing"; name a task of this workflow' },
      { path: "tasks.0.failedNext.0", message: '"cond" cannot branch to itself; name a downstream task' },
    ]);
    expect(problems(workflow([{ name: "sw", type: "switch", cases: [{ when: "x", next: "nope" }], default: "sw" }]))).toEqual([
      { path: "tasks.0.cases.0.next", message: 'unknown task "nope"; name a task of this workflow' },
      { path: "tasks.0.default", message: '"sw" cannot branch to itself; name a downstream task' },
    ]);
  });

  test("a conditions task tests only its own deps", () => {
    expect(
      problems(workflow([noop("a"), noop("b"), { name: "cond", type: "conditions", deps: ["a"], dependOn: [{ task: "b", state: "SUCCESS" }, { task: "zz", state: "FAILURE" }] }])),
    ).toEqual([
      { path: "tasks.2.dependOn.0.task", message: '"b" is not a dep of "cond"; a conditions task tests its own deps: add "b" to tasks.2.deps' },
      { path: "tasks.2.dependOn.1.task", message: 'unknown task "zz"; name a task of this workflow' },
    ]);
  });
});

describe("large definitions", () => {
  test("a 10,000-task chain parses", () => {
    const tasks = Array.from({ length: MAX_TASKS }, (_, i) => noop(`t${i}`, i > 0 ? { deps: [`t${i - 1}`] } : {}));
    expect(parseWorkflowDefinition(workflow(tasks)).tasks).toHaveLength(MAX_TASKS);
  });

  test("a 10,000-task wide DAG parses", () => {
    const middle = Array.from({ length: MAX_TASKS - 2 }, (_, i) => noop(`m${i}`, { deps: ["root"] }));
    const tasks = [noop("root"), ...middle, noop("sink", { deps: middle.map((m) => m.name) })];
    expect(parseWorkflowDefinition(workflow(tasks)).tasks.at(-1)?.deps).toHaveLength(MAX_TASKS - 2);
  });

  test("a 10,000-task ring is rejected with a short cycle message", () => {
    const tasks = Array.from({ length: MAX_TASKS }, (_, i) => noop(`t${i}`, { deps: [`t${(i + MAX_TASKS - 1) % MAX_TASKS}`] }));
    const details = problems(workflow(tasks));
    expect(details).toHaveLength(1);
    expect(details[0]!.message).toStartWith("dependency cycle: t0 → t1");
  });
});
