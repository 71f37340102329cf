// The run's timezone through the HTTP API (engine client only: the instance is created, nothing
// runs): an unknown zone is a 400 naming the field, a known one is stored and shown, and the
// default is UTC; a stop says who asked for it in the instance's message.

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError } from "./harness.ts";

const P = "/api/v1/projects/analytics";

describe.each(dialects)("API run timezone and message on %s", (dialect) => {
  test("timezone: unknown is 400 on the field; given is kept; default UTC; stop writes who asked", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    expect((await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } })).status).toBe(201);
    expect((await h.call("POST", `${P}/workflows`, { body: { name: "etl", tasks: [{ name: "t", type: "shell", script: "echo hi" }] } })).status).toBe(201);
    const run = (body: unknown) => h.call("POST", `${P}/workflows/etl/run`, { body });
    const err = expectError(await run({ timezone: "Europe/Atlantis" }), 400, "VALIDATION_FAILED", 'unknown time zone "Europe/Atlantis"');
    expect(err.details.map((d) => d.path)).toEqual(["timezone"]);
    expectError(await run({ timezone: "" }), 400, "VALIDATION_FAILED");
    const given = (await run({ timezone: "America/New_York" })).json.id as number;
    const plain = (await run({})).json.id as number;
    expect((await h.call("GET", `/api/v1/workflow-instances/${given}`)).json).toMatchObject({ timezone: "America/New_York", message: null });
    expect((await h.call("GET", `/api/v1/workflow-instances/${plain}`)).json).toMatchObject({ timezone: "UTC" });

    expect((await h.call("POST", `/api/v1/workflow-instances/${plain}/stop`)).status).toBe(200);
    expect((await h.call("GET", `/api/v1/workflow-instances/${plain}`)).json).toMatchObject({ message: "stop requested by admin" });
  });
});
