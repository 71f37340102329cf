// Datasource connection fields (issue 9 item 5b): structured, validated fields, an allow-list of
// connection options, a URL built with proper encoding, and stored rows that break the rules
// refused with a clear error when a task would connect.

import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { connectionUrl, type ConnectionFields } from "../../../src/core/datasource-fields.ts";
import { ValidationError } from "../../../src/core/errors.ts";
import { dialects, testPostgresUrl } from "../../helpers/stores.ts";
import { apiHarness, expectError } from "./harness.ts";

const base = "/api/v1/projects/analytics/datasources";
const good = { name: "warehouse", host: "db.internal", database: "dw", user: "etl", password: "pw" };

describe.each(dialects)("datasource fields on %s", (dialect) => {
  test("host, database, user and options are checked field by field; 400 names the field and nothing is stored", async () => {
    await using h = await apiHarness(dialect);
    await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } });
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ host: "db?password=x#" }, "host", /host name .* or an IP address/],
      [{ host: "127.0.0.1:6379" }, "host", /or an IP address/],
      [{ host: "evil@db.internal" }, "host", /or an IP address/],
      [{ host: "db.internal/other" }, "host", /or an IP address/],
      [{ host: "[::1]" }, "host", /or an IP address/],
      [{ host: "" }, "host", /host name/],
      [{ port: 0 }, "port", /between 1 and 65535/],
      [{ port: 65536 }, "port", /between 1 and 65535/],
      [{ database: "dw?sslmode=disable" }, "database", /letters, digits/],
      [{ database: "a/b" }, "database", /letters, digits/],
      [{ database: "d".repeat(64) }, "database", /63 bytes/],
      [{ user: "etl\nx" }, "user", /control characters/],
      [{ params: { user: "postgres" } }, "params.user", /not an allowed postgres connection option; allowed: sslmode/],
      [{ params: { options: "-c search_path=evil" } }, "params.options", /not an allowed/],
      [{ params: { host: "169.254.169.254" } }, "params.host", /not an allowed/],
      [{ params: { sslmode: "off" } }, "params.sslmode", /sslmode: expected one of disable/],
      [{ params: { connect_timeout: "-1" } }, "params.connect_timeout", /integer between 1 and 3600/],
    ];
    for (const [patch, path, message] of cases) {
      const err = expectError(await h.call("POST", base, { body: { ...good, ...patch } }), 400, "VALIDATION_FAILED");
      expect(err.details).toEqual([{ path, message: expect.stringMatching(message) }]);
    }
    expect((await h.call("GET", base)).json.total).toBe(0);

    // Allowed: IPv4, IPv6, host names, users with any printable characters, listed options.
    for (const host of ["10.0.0.5", "::1", "fd00::1:2", "db-1.example.com"]) {
      const created = await h.call("POST", base, { body: { ...good, name: `ds-${host.replaceAll(":", "_")}`, host } });
      expect(created.status).toBe(201);
    }
    const odd = await h.call("POST", base, {
      body: { ...good, name: "odd", user: "etl@corp:x/y?z#", params: { sslmode: "verify-full", connect_timeout: 5, application_name: "porpoise etl", statement_timeout: 60000 } },
    });
    expect(odd.status).toBe(201);
    // An update is held to the same rules.
    const err = expectError(await h.call("PUT", `${base}/odd`, { body: { params: { user: "postgres" } } }), 400, "VALIDATION_FAILED");
    expect(err.details[0]).toMatchObject({ path: "params.user" });
    expectError(await h.call("PUT", `${base}/odd`, { body: { host: "x#y" } }), 400, "VALIDATION_FAILED", /host/);
  });

  test("a row stored before the rules cannot be connected to: the error names the field and how to fix it", async () => {
    await using h = await apiHarness(dialect);
    const project = (await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } })).json;
    const system = { userId: null, userName: "test" };
    await h.store.datasources.create(project.id, { name: "legacy", type: "postgres", host: "db?user=postgres#", port: 5432, database: "dw", user: "etl", params: { user: "postgres" } }, system);
    const row = (await h.store.datasources.getConnection(project.id, "legacy"))!;
    let caught: unknown;
    try {
      connectionUrl("legacy", row);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    const e = caught as ValidationError;
    expect(e.details.map((d) => d.path)).toEqual(["host", "params.user"]);
    expect(e.message).toContain('datasource "legacy" cannot be used');
    expect(e.message).toContain("PUT /api/v1/projects/<project>/datasources/legacy");
  });
});

describe("sql tasks and the worker's checks", () => {
  test("a metadata-address datasource and a stored row that breaks the rules fail the task, saying why", async () => {
    await using h = await apiHarness("sqlite", { engine: "full" });
    const project = (await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } })).json;
    expect((await h.call("POST", base, { body: { ...good, name: "imds", host: "169.254.169.254" } })).status).toBe(201);
    await h.store.datasources.create(
      project.id,
      { name: "legacy", type: "postgres", host: "127.0.0.1?user=postgres#", port: 5432, database: "dw", user: "etl" },
      { userId: null, userName: "test" },
    );
    const saved = await h.call("POST", "/api/v1/projects/analytics/workflows", {
      body: { name: "q", tasks: [{ name: "imds", type: "sql", datasource: "imds", sql: "SELECT 1" }, { name: "legacy", type: "sql", datasource: "legacy", sql: "SELECT 1" }] },
    });
    expect(saved.status).toBe(201);
    const id = (await h.call("POST", "/api/v1/projects/analytics/workflows/q/run", { body: {} })).json.id as number;
    const done = await h.waitFor("instance ends", async () => {
      const reply = await h.call("GET", `/api/v1/workflow-instances/${id}`);
      return ["SUCCESS", "FAILURE"].includes(reply.json.state) ? reply.json : null;
    }, 30_000);
    expect(done.state).toBe("FAILURE");
    const logOf = async (task: string) => {
      const t = done.tasks.find((x: { taskName: string }) => x.taskName === task);
      expect(t.state).toBe("FAILURE");
      return (await h.call("GET", `/api/v1/task-instances/${t.id}/log`)).json.text as string;
    };
    expect(await logOf("imds")).toContain("connecting to 169.254.169.254 is not allowed: it matches 169.254.0.0/16 in the built-in egress deny list");
    expect(await logOf("legacy")).toContain('datasource "legacy" cannot be used: host:');
  }, 60_000);
});

describe("connection URL encoding on a real Postgres", () => {
  const role = `porpoise we@ird:us/er?#&=${process.pid}`;
  const password = "p@ss:w/o?r#d&x=1%25 ";
  const admin = postgres(testPostgresUrl(), { max: 1, onnotice: () => {} });
  afterAll(async () => {
    await admin.unsafe(`DROP ROLE IF EXISTS "${role}"`);
    await admin.end();
  });

  test("user and password with URL metacharacters arrive as written; options are only the listed ones", async () => {
    await admin.unsafe(`CREATE ROLE "${role}" LOGIN PASSWORD '${password.replaceAll("'", "''")}'`);
    const target = new URL(testPostgresUrl());
    const fields: ConnectionFields = {
      type: "postgres",
      host: target.hostname,
      port: Number(target.port || 5432),
      database: target.pathname.slice(1) || "postgres",
      user: role,
      password,
      params: { application_name: "porpoise test", connect_timeout: "5" },
    };
    const url = connectionUrl("real", fields);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql`SELECT current_user AS who, current_database() AS db, current_setting('application_name') AS app`;
      expect(row).toEqual({ who: role, db: fields.database, app: "porpoise test" });
    } finally {
      await sql.end();
    }
  });
});
