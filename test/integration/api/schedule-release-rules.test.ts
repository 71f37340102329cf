// Issue 9 item 14, as in DolphinScheduler: taking a workflow OFFLINE takes its schedules OFFLINE in
// the same transaction (with an audit row each), and a schedule cannot be ONLINE — created so or
// released — while its workflow is OFFLINE (409 naming the workflow and what to do). Both dialects.
// Seen failing before the fix: the schedule stayed ONLINE and the release answered 200.

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness } from "./harness.ts";

const BASE = "/api/v1/projects/etl";

describe.each(dialects)("schedule and workflow release rules on %s", (dialect) => {
  test("OFFLINE workflow → its schedules OFFLINE; no ONLINE schedule for an OFFLINE workflow", async () => {
    await using h = await apiHarness(dialect);
    expect((await h.call("POST", "/api/v1/projects", { body: { name: "etl" } })).status).toBe(201);
    expect((await h.call("POST", `${BASE}/workflows`, { body: { name: "daily", tasks: [{ name: "t", type: "noop" }] } })).status).toBe(201);
    const on = await h.call("POST", `${BASE}/workflows/daily/schedules`, { body: { cron: "0 0 3 * * ?", releaseState: "ONLINE" } });
    const off = await h.call("POST", `${BASE}/workflows/daily/schedules`, { body: { cron: "0 0 4 * * ?" } });
    expect([on.status, on.json.releaseState, off.json.releaseState]).toEqual([201, "ONLINE", "OFFLINE"]);

    expect((await h.call("POST", `${BASE}/workflows/daily/release`, { body: { state: "OFFLINE" } })).json.releaseState).toBe("OFFLINE");
    const states = async () => (await h.call("GET", `${BASE}/workflows/daily/schedules`)).json.items.map((s: { releaseState: string }) => s.releaseState);
    expect(await states()).toEqual(["OFFLINE", "OFFLINE"]);
    const audit = (await h.call("GET", `${BASE}/audit`)).json.items as { action: string; objectId: string; details: { reason?: string } }[];
    expect(audit.filter((a) => a.action === "schedule.offline").map((a) => [a.objectId, a.details.reason])).toEqual([[String(on.json.id), "its workflow was taken OFFLINE"]]);

    const refused = await h.call("POST", `${BASE}/schedules/${on.json.id}/release`, { body: { state: "ONLINE" } });
    expect(refused.status).toBe(409);
    expect(refused.json.error.message).toContain('workflow "daily" is OFFLINE: a schedule cannot be ONLINE for an OFFLINE workflow; bring the workflow ONLINE first');
    const created = await h.call("POST", `${BASE}/workflows/daily/schedules`, { body: { cron: "0 0 5 * * ?", releaseState: "ONLINE" } });
    expect(created.status).toBe(409);
    expect(await states()).toEqual(["OFFLINE", "OFFLINE"]); // nothing stored, nothing changed

    // Back ONLINE: the schedules stay OFFLINE (as in DolphinScheduler) until released again.
    await h.call("POST", `${BASE}/workflows/daily/release`, { body: { state: "ONLINE" } });
    expect(await states()).toEqual(["OFFLINE", "OFFLINE"]);
    expect((await h.call("POST", `${BASE}/schedules/${on.json.id}/release`, { body: { state: "ONLINE" } })).json.releaseState).toBe("ONLINE");
  });
});
