// Backfill (complement data) through the API on a real engine (master + worker, shell tasks as
// real processes), on both dialects: serial, parallel, explicit dates, descending order, a
// failure mid-way with stop and with continue, schedule fire times, and bad input.

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError, type Harness } from "./harness.ts";

const P = "/api/v1/projects/bf";

type Run = { scheduleTime: string; instanceId: number | null; state: string };
type Instance = { id: number; state: string; runType: string; scheduleTime: string | null; startTime: string | null; endTime: string | null };

async function setup(h: Harness, script = "echo day ${system.biz.curdate}") {
  await h.call("POST", "/api/v1/projects", { body: { name: "bf" } });
  const saved = await h.call("POST", `${P}/workflows`, { body: { name: "daily", tasks: [{ name: "t", type: "shell", script }] } });
  expect(saved.status).toBe(201);
}

async function backfill(h: Harness, body: Record<string, unknown>) {
  const reply = await h.call("POST", `${P}/workflows/daily/backfill`, { body });
  expect(reply.status).toBe(201);
  return reply.json as { id: number; total: number; plan: string[] };
}

async function waitEnded(h: Harness, id: number) {
  return h.waitFor(`backfill ${id} ended`, async () => {
    const b = (await h.call("GET", `${P}/backfills/${id}`)).json;
    return b.state !== "RUNNING" ? b : null;
  });
}

async function instancesOf(h: Harness, runs: Run[]): Promise<Instance[]> {
  const out: Instance[] = [];
  for (const r of runs) if (r.instanceId !== null) out.push((await h.call("GET", `/api/v1/workflow-instances/${r.instanceId}`)).json);
  return out;
}

/** The most instances running at one moment, from their stored start and end times. */
function maxOverlap(instances: Instance[]): number {
  let max = 0;
  for (const a of instances) {
    const t = Date.parse(a.startTime!);
    max = Math.max(max, instances.filter((b) => Date.parse(b.startTime!) <= t && t < Date.parse(b.endTime!)).length);
  }
  return max;
}

describe.each(dialects)("backfill on a real engine (%s)", (dialect) => {
  test("serial ascending over 3 days: one run per day at 00:00 UTC, strictly one after another, in order", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h);
    const b = await backfill(h, { from: "2026-01-01", to: "2026-01-03" });
    expect(b.plan).toEqual(["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"]);
    const done = await waitEnded(h, b.id);
    expect(done).toMatchObject({ state: "SUCCESS", total: 3, created: 3, succeeded: 3, failed: 0, runMode: "serial" });
    const instances = await instancesOf(h, done.runs);
    expect(instances.map((i) => [i.scheduleTime, i.state, i.runType])).toEqual(b.plan.map((t) => [t, "SUCCESS", "COMPLEMENT_DATA"]));
    // Ids follow the plan (created in order) and each starts only after the previous ended.
    expect(instances.map((i) => i.id)).toEqual([...instances.map((i) => i.id)].sort((x, y) => x - y));
    for (let i = 1; i < instances.length; i++) expect(Date.parse(instances[i]!.startTime!)).toBeGreaterThanOrEqual(Date.parse(instances[i - 1]!.endTime!));
    const list = (await h.call("GET", `${P}/backfills`)).json;
    expect(list.items.map((x: { id: number }) => x.id)).toEqual([b.id]);
  });

  test("parallel with maxParallelism 2 over 4 dates: never more than 2 active", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h, "sleep 0.3");
    const b = await backfill(h, { from: "2026-02-01", to: "2026-02-04", runMode: "parallel", maxParallelism: 2 });
    const done = await waitEnded(h, b.id);
    expect(done).toMatchObject({ state: "SUCCESS", total: 4, succeeded: 4 });
    const instances = await instancesOf(h, done.runs);
    expect(instances.map((i) => i.scheduleTime)).toEqual(b.plan);
    expect(maxOverlap(instances)).toBeLessThanOrEqual(2);
  });

  test("explicit dates in descending order", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h);
    const b = await backfill(h, { dates: ["2026-03-05", "2026-03-01T12:00:00Z", "2026-03-09"], order: "desc" });
    expect(b.plan).toEqual(["2026-03-09T00:00:00.000Z", "2026-03-05T00:00:00.000Z", "2026-03-01T12:00:00.000Z"]);
    const done = await waitEnded(h, b.id);
    expect(done.state).toBe("SUCCESS");
    const instances = await instancesOf(h, done.runs);
    expect(instances.map((i) => i.scheduleTime)).toEqual(b.plan);
    expect(instances.map((i) => i.id)).toEqual([...instances.map((i) => i.id)].sort((x, y) => x - y));
  });

  test("serial failure mid-way with onFailure stop: the rest is never created, backfill FAILURE", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h, '[ "${system.biz.curdate}" != "20260102" ]');
    const b = await backfill(h, { from: "2026-01-01", to: "2026-01-04" });
    const done = await waitEnded(h, b.id);
    expect(done).toMatchObject({ state: "FAILURE", total: 4, created: 2, succeeded: 1, failed: 1 });
    expect(done.runs.map((r: Run) => r.state)).toEqual(["SUCCESS", "FAILURE", "NOT_STARTED", "NOT_STARTED"]);
  });

  test("serial failure mid-way with onFailure continue: every date runs, backfill FAILURE with the counts", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h, '[ "${system.biz.curdate}" != "20260102" ]');
    const b = await backfill(h, { from: "2026-01-01", to: "2026-01-03", onFailure: "continue" });
    const done = await waitEnded(h, b.id);
    expect(done).toMatchObject({ state: "FAILURE", total: 3, created: 3, succeeded: 2, failed: 1 });
    expect(done.runs.map((r: Run) => r.state)).toEqual(["SUCCESS", "FAILURE", "SUCCESS"]);
  });

  test("a workflow with a schedule: its fire times inside the range are the plan", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h);
    const s = await h.call("POST", `${P}/workflows/daily/schedules`, { body: { cron: "0 0 6,18 * * ? *", timezone: "UTC" } });
    expect(s.status).toBe(201);
    const b = await backfill(h, { from: "2026-01-01", to: "2026-01-02", runMode: "parallel", maxParallelism: 4 });
    expect(b.plan).toEqual(["2026-01-01T06:00:00.000Z", "2026-01-01T18:00:00.000Z", "2026-01-02T06:00:00.000Z", "2026-01-02T18:00:00.000Z"]);
    const done = await waitEnded(h, b.id);
    expect(done).toMatchObject({ state: "SUCCESS", scheduleId: s.json.id, succeeded: 4 });
    expect((await instancesOf(h, done.runs)).map((i) => i.scheduleTime)).toEqual(b.plan);
  });

  test("stop through the API: the running run ends STOP, the rest stays NOT_STARTED; another project's id is 404", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h, "sleep 60");
    const b = await backfill(h, { dates: ["2026-01-01", "2026-01-02"] });
    const first = (b as unknown as { runs: Run[] }).runs[0]!;
    expect(first.instanceId).toEqual(expect.any(Number));
    await h.waitFor("the first run running", async () => (await h.call("GET", `/api/v1/workflow-instances/${first.instanceId}`)).json.state === "RUNNING_EXECUTION");
    await h.call("POST", "/api/v1/projects", { body: { name: "other" } });
    expectError(await h.call("POST", `/api/v1/projects/other/backfills/${b.id}/stop`), 404, "NOT_FOUND");
    const stopped = await h.call("POST", `${P}/backfills/${b.id}/stop`);
    expect(stopped.status).toBe(200);
    expect(stopped.json.state).toBe("STOPPED");
    const done = await h.waitFor("the run stopped", async () => {
      const x = (await h.call("GET", `${P}/backfills/${b.id}`)).json;
      return x.runs[0].state === "STOP" ? x : null;
    });
    expect(done).toMatchObject({ state: "STOPPED", created: 1 });
    expect(done.runs.map((r: Run) => r.state)).toEqual(["STOP", "NOT_STARTED"]);
  });

  test("bad input answers 400 naming the field and stores nothing", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await setup(h);
    const cases: [Record<string, unknown>, string][] = [
      [{ from: "2026-01-05", to: "2026-01-01" }, "from"],
      [{ dates: [] }, "dates"],
      [{ dates: ["2026-02-30"] }, "dates.0"],
      [{ from: "yesterday", to: "2026-01-01" }, "from"],
      [{ from: "2026-01-01" }, "to"],
      [{}, "from"],
      [{ from: "2026-01-01", to: "2026-01-02", maxParallelism: 0 }, "maxParallelism"],
      [{ from: "2026-01-01", to: "2026-01-02", runMode: "fast" }, "runMode"],
    ];
    for (const [body, field] of cases) {
      const reply = await h.call("POST", `${P}/workflows/daily/backfill`, { body });
      const error = expectError(reply, 400, "VALIDATION_FAILED");
      expect({ body, paths: error.details.map((d) => d.path) }).toEqual({ body, paths: expect.arrayContaining([field]) });
    }
    expect((await h.call("GET", `${P}/backfills`)).json.items).toEqual([]);
  });
});
