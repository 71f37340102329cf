// One name rule for every named thing (issue 9 item 5c): through the API, a name with a bidi
// override, an invisible character or a "/" is 400 naming the field, for projects, workflows,
// tasks, datasources and tokens; users have their own stricter ASCII rule.

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError } from "./harness.ts";

const BAD = [
  ["invoice\u202Etxt.exe", /bidi/],
  ["a\u2066b", /bidi/],
  ["zero\u200Bwidth", /invisible/],
  ["eu/west", /"\/"/],
  ["..", /not addressable/],
  [" padded", /spaces/],
] as const;

describe.each(dialects)("names on %s", (dialect) => {
  test("projects, workflows, tasks, datasources and tokens refuse bidi controls, invisibles and slashes, naming the field", async () => {
    await using h = await apiHarness(dialect);
    expect((await h.call("POST", "/api/v1/projects", { body: { name: "ok" } })).status).toBe(201);
    for (const [bad, why] of BAD) {
      const project = expectError(await h.call("POST", "/api/v1/projects", { body: { name: bad } }), 400, "VALIDATION_FAILED");
      expect(project.details).toEqual([{ path: "name", message: expect.stringMatching(why) }]);

      const workflow = expectError(
        await h.call("POST", "/api/v1/projects/ok/workflows", { body: { name: bad, tasks: [{ name: "t", type: "noop" }] } }),
        400,
        "VALIDATION_FAILED",
      );
      expect(workflow.details[0]).toMatchObject({ path: "name" });

      const task = expectError(
        await h.call("POST", "/api/v1/projects/ok/workflows", { body: { name: "w", tasks: [{ name: bad, type: "noop" }] } }),
        400,
        "VALIDATION_FAILED",
      );
      expect(task.details[0]).toMatchObject({ path: "tasks.0.name" });

      const datasource = expectError(
        await h.call("POST", "/api/v1/projects/ok/datasources", { body: { name: bad, host: "db.internal", database: "dw", user: "etl" } }),
        400,
        "VALIDATION_FAILED",
      );
      expect(datasource.details).toEqual([{ path: "name", message: expect.stringMatching(why) }]);

      const token = expectError(await h.call("POST", "/api/v1/tokens", { body: { name: bad } }), 400, "VALIDATION_FAILED");
      expect(token.details[0]).toMatchObject({ path: "name" });
    }
    // Nothing was stored.
    expect((await h.call("GET", "/api/v1/projects")).json.total).toBe(1);
    expect((await h.call("GET", "/api/v1/projects/ok/datasources")).json.total).toBe(0);
    expect((await h.call("GET", "/api/v1/projects/ok/workflows")).json.total).toBe(0);
  });
});
