// Catch-up across a real restart of `porpoise all`: per-second schedules fire, the process is
// killed (-9), fires are missed while it is down, and the restarted process applies each
// schedule's policy. Every schedule but one ends at E (during the downtime), so what the
// restart creates is exactly the catch-up and the counts are exact, not timing-dependent
// (E is set while the process is down, a few seconds after every schedule's cursor):
//   none → nothing; latest → one run at E; all → every second in (cursor, E]; all with
//   catchupMax 2 → E-1s and E. The open-ended `none` schedule shows firing goes on from now.
// The kill leaves the cursor at the newest fire materialised; no fire is created twice.

import { describe, expect, test } from "bun:test";
import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import { openStore } from "../../src/store/open.ts";
import type { NewSchedule, Store } from "../../src/store/store.ts";
import { dialects } from "../helpers/stores.ts";
import { porpoiseAll, seedProject, waitFor } from "./porpoise-process.ts";

for (const dialect of dialects) {
  describe(`schedule catch-up across a restart (${dialect})`, () => {
    test("none / latest / all / all capped, no double fire, firing goes on", async () => {
      await using env = await porpoiseAll(dialect, { prefix: "porpoise-catchup-" });
      const store: Store = await openStore({ url: env.url });
      try {
        const { actor, project } = await seedProject(store);
        const { workflow } = await store.workflows.create(project.id, parseWorkflowDefinition({ name: "tick", tasks: [{ name: "t", type: "noop" }] }), actor);
        const every: NewSchedule = { cron: "* * * * * ?", releaseState: "ONLINE" };
        const ids = {
          none: (await store.schedules.create(project.id, workflow.id, { ...every, catchup: "none" }, actor)).id,
          latest: (await store.schedules.create(project.id, workflow.id, { ...every, catchup: "latest" }, actor)).id,
          all: (await store.schedules.create(project.id, workflow.id, { ...every, catchup: "all" }, actor)).id,
          capped: (await store.schedules.create(project.id, workflow.id, { ...every, catchup: "all", catchupMax: 2 }, actor)).id,
          open: (await store.schedules.create(project.id, workflow.id, { cron: "* * * * * ?", releaseState: "ONLINE", catchup: "none" }, actor)).id,
        };
        const times = async (scheduleId: number): Promise<number[]> => {
          const page = await store.instances.list({ projectId: project.id, limit: 500, offset: 0 });
          return page.items.filter((i) => i.scheduleId === scheduleId).map((i) => i.scheduleTime!.getTime()).sort((a, b) => a - b);
        };

        {
          await using p = await env.start();
          for (const id of Object.values(ids)) await waitFor(`a fire of schedule ${id}`, async () => (await times(id)).length >= 1);
          p.signal("SIGKILL");
          await p.exit();
        }
        const before: Record<string, { times: number[]; cursor: number }> = {};
        for (const [name, id] of Object.entries(ids)) {
          const t = await times(id);
          const cursor = (await store.schedules.get(id))!.lastFireTime!.getTime();
          // The cursor is the newest fire materialised: a killed process leaves nothing half done.
          expect({ name, cursor }).toEqual({ name, cursor: t.at(-1)! });
          before[name] = { times: t, cursor };
        }
        // While porpoise is down, the four schedules get an end E at least three fires after every
        // cursor, so each has missed fires whatever the machine's speed.
        const E = new Date(Math.ceil((Math.max(Date.now(), ...Object.values(before).map((b) => b.cursor)) + 3000) / 1000) * 1000);
        for (const name of ["none", "latest", "all", "capped"] as const) await store.schedules.update(ids[name], { endTime: E }, actor);

        await waitFor("E to pass while porpoise is down", async () => Date.now() > E.getTime() + 300, 20_000);
        const restartedAt = Date.now();
        await using again = await env.start();

        const missed = (name: string) => {
          const out: number[] = [];
          for (let t = before[name]!.cursor + 1000; t <= E.getTime(); t += 1000) out.push(t);
          return out;
        };
        // Catch-up runs before "ready": what it creates is there now.
        expect(await times(ids.none)).toEqual(before.none!.times);
        expect(await times(ids.latest)).toEqual([...before.latest!.times, E.getTime()]);
        expect(await times(ids.all)).toEqual([...before.all!.times, ...missed("all")]);
        expect(await times(ids.capped)).toEqual([...before.capped!.times, E.getTime() - 1000, E.getTime()]);
        // The open schedule skipped its missed fires and fires again after the restart.
        const open = await waitFor("the open schedule to fire after the restart", async () => {
          const t = await times(ids.open);
          return t.some((x) => x >= restartedAt) ? t : null;
        });
        const afterCursor = open.filter((t) => t > before.open!.cursor);
        expect(afterCursor[0]!).toBeGreaterThan(restartedAt - 1000);
        expect(new Set(open).size).toBe(open.length);
        again.signal("SIGTERM");
        expect(await again.exit()).toBe(0);
      } finally {
        await store.close();
      }
    }, 60_000);
  });
}
