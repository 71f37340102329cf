// Schedules through the API: CRUD, validation that names the field (cron.<field>, timezone,
// endTime), roles, preview of saved and unsaved expressions, and a schedule created ONLINE on a
// real engine firing instances with their scheduleTime (and stopping when taken OFFLINE).

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, type Harness } from "./harness.ts";

const BASE = "/api/v1/projects/etl";

async function withWorkflow(h: Harness) {
  expect((await h.call("POST", "/api/v1/projects", { body: { name: "etl" } })).status).toBe(201);
  expect((await h.call("POST", `${BASE}/workflows`, { body: { name: "daily", tasks: [{ name: "t", type: "noop" }] } })).status).toBe(201);
}

const detailPaths = (reply: { json: { error?: { details?: { path: string }[] } } }) => (reply.json.error?.details ?? []).map((d) => d.path);

describe.each(dialects)("schedules API on %s", (dialect) => {
  test("create, read, list, update, release, delete; bad input names the field and changes nothing", async () => {
    await using h = await apiHarness(dialect);
    await withWorkflow(h);
    const created = await h.call("POST", `${BASE}/workflows/daily/schedules`, {
      body: { cron: "0 0 3 * * ?", timezone: "Europe/Berlin", catchup: "all", catchupMax: 5, params: { a: "1" }, startTime: "2026-01-01T00:00:00Z" },
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ cron: "0 0 3 * * ?", timezone: "Europe/Berlin", releaseState: "OFFLINE", catchup: "all", catchupMax: 5, startTime: "2026-01-01T00:00:00.000Z" });
    const id = created.json.id as number;

    const bad: [unknown, string][] = [
      [{ cron: "0 0 25 * * ?" }, "cron.hour"],
      [{ cron: "0 0 3 * * MOZ" }, "cron.dayOfWeek"],
      [{ cron: "one two" }, "cron"],
      [{ cron: "0 0 3 * * ?", timezone: "Mars/Olympus" }, "timezone"],
      [{ cron: "0 0 3 * * ?", startTime: "2027-01-01T00:00:00Z", endTime: "2026-01-01T00:00:00Z" }, "endTime"],
      [{ cron: "0 0 3 * * ?", catchup: "some" }, "catchup"],
      [{ cron: "0 0 3 * * ?", catchupMax: 0 }, "catchupMax"],
      [{ cron: "0 0 3 * * ?", startTime: "yesterday" }, "startTime"],
      [{ cron: "0 0 3 * * ?", projectId: 9 }, "projectId"],
    ];
    for (const [body, field] of bad) {
      const reply = await h.call("POST", `${BASE}/workflows/daily/schedules`, { body });
      expect({ body, status: reply.status }).toEqual({ body, status: 400 });
      expect({ body, paths: detailPaths(reply).join(" ") + reply.json.error.message }).toEqual({ body, paths: expect.stringContaining(field) });
    }
    const putBad = await h.call("PUT", `${BASE}/schedules/${id}`, { body: { endTime: "2025-01-01T00:00:00Z" } });
    expect(putBad.status).toBe(400);
    expect(detailPaths(putBad)).toContain("endTime");
    const putCron = await h.call("PUT", `${BASE}/schedules/${id}`, { body: { cron: "0 61 * * * ?" } });
    expect(detailPaths(putCron)).toContain("cron.minute");

    const list = await h.call("GET", `${BASE}/workflows/daily/schedules`);
    expect(list.json.items.map((s: { id: number; cron: string }) => [s.id, s.cron])).toEqual([[id, "0 0 3 * * ?"]]);
    const put = await h.call("PUT", `${BASE}/schedules/${id}`, { body: { cron: "0 30 4 * * ?", startTime: null } });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ cron: "0 30 4 * * ?", startTime: null, timezone: "Europe/Berlin" });
    const online = await h.call("POST", `${BASE}/schedules/${id}/release`, { body: { state: "ONLINE" } });
    expect(online.json.releaseState).toBe("ONLINE");

    const viewer = await h.user("vera");
    await h.call("POST", `${BASE}/members`, { body: { user: "vera", role: "viewer" } });
    expect((await h.call("GET", `${BASE}/schedules/${id}`, { token: viewer.token })).status).toBe(200);
    expect((await h.call("PUT", `${BASE}/schedules/${id}`, { token: viewer.token, body: { cron: "* * * * * ?" } })).status).toBe(403);
    expect((await h.call("DELETE", `${BASE}/schedules/${id}`, { token: viewer.token })).status).toBe(403);

    expect((await h.call("DELETE", `${BASE}/schedules/${id}`)).status).toBe(204);
    expect((await h.call("GET", `${BASE}/schedules/${id}`)).status).toBe(404);
    expect((await h.call("GET", `${BASE}/workflows/nope/schedules`)).status).toBe(404);
  });

  test("preview: saved schedule within its window, unsaved expression from an instant, count bounds", async () => {
    await using h = await apiHarness(dialect);
    await withWorkflow(h);
    const unsaved = await h.call("POST", "/api/v1/schedules/preview", {
      body: { cron: "0 0 3/6 * * ? *", timezone: "Europe/Berlin", count: 4, from: "2026-03-28T12:00:00Z" },
    });
    expect(unsaved.status).toBe(200);
    // 15:00 and 21:00 Berlin (UTC+1), then 03:00 on the DST day (UTC+2), then 09:00.
    expect(unsaved.json.fireTimes).toEqual(["2026-03-28T14:00:00.000Z", "2026-03-28T20:00:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-29T07:00:00.000Z"]);
    const badCron = await h.call("POST", "/api/v1/schedules/preview", { body: { cron: "0 0 3 32 * ?" } });
    expect(badCron.status).toBe(400);
    expect(detailPaths(badCron)).toContain("cron.dayOfMonth");
    expect((await h.call("POST", "/api/v1/schedules/preview", { body: { cron: "* * * * * ?", count: 101 } })).status).toBe(400);
    expect((await h.call("POST", "/api/v1/schedules/preview", { body: { cron: "* * * * * ?", timezone: "Nowhere/Town" } })).status).toBe(400);

    const s = await h.call("POST", `${BASE}/workflows/daily/schedules`, {
      body: { cron: "0 0 0 * * ?", startTime: "2099-01-01T00:00:00Z", endTime: "2099-01-03T00:00:00Z" },
    });
    const saved = await h.call("GET", `${BASE}/schedules/${s.json.id}/preview?count=10`);
    expect(saved.status).toBe(200);
    expect(saved.json.fireTimes).toEqual(["2099-01-01T00:00:00.000Z", "2099-01-02T00:00:00.000Z", "2099-01-03T00:00:00.000Z"]);
    expect((await h.call("GET", `${BASE}/schedules/${s.json.id}/preview?count=0`)).status).toBe(400);
    expect((await h.call("GET", `${BASE}/schedules/${s.json.id}/preview?count=1000`)).status).toBe(400);
  });

  test("an ONLINE per-second schedule on a real engine fires runs with their scheduleTime; OFFLINE stops it", async () => {
    await using h = await apiHarness(dialect, { engine: "full" });
    await withWorkflow(h);
    h.clock.now = new Date();
    const s = await h.call("POST", `${BASE}/workflows/daily/schedules`, { body: { cron: "* * * * * ?", releaseState: "ONLINE" } });
    expect(s.status).toBe(201);
    const runs = await h.waitFor("two scheduled runs to succeed", async () => {
      const page = await h.call("GET", `${BASE}/workflow-instances?limit=100`);
      const done = page.json.items.filter((i: { runType: string; state: string }) => i.runType === "SCHEDULER" && i.state === "SUCCESS");
      return done.length >= 2 ? done : null;
    });
    for (const r of runs) {
      expect(r.scheduleTime).toMatch(/\.000Z$/);
      expect(Date.parse(r.scheduleTime)).toBeGreaterThan(Date.parse(s.json.createdAt) - 1000);
    }
    await h.call("POST", `${BASE}/schedules/${s.json.id}/release`, { body: { state: "OFFLINE" } });
    await h.waitFor("the scheduler to drop it", async () => h.engine!.scheduler.size === 0);
    const projectId = (await h.store.projects.getByName("etl"))!.id;
    const count = (await h.store.instances.list({ projectId, limit: 500, offset: 0 })).total;
    const until = Date.now() + 2100;
    await h.waitFor("two fire times to pass", async () => Date.now() > until);
    expect((await h.store.instances.list({ projectId, limit: 500, offset: 0 })).total).toBe(count);
  }, 30_000);
});
