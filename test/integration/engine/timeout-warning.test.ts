// Issue 9 item 16: a WARN timeout is recorded — on the task instance (`warning`, visible in the API
// view and `porpoise status`) and as one alert_events row alerting can deliver later — and nothing
// claims a delivery ("warning sent" is gone from the task log). Both dialects, real shell process and
// a dependent task (the master's own WARN timeout). Seen failing before the fix: no warning, no event.

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { toTaskInstance } from "../../../src/api/instance-views.ts";
import { renderStatus } from "../../../src/cli/status.ts";
import { dialects, rawQuery } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

for (const dialect of dialects) {
  describe(`WARN timeouts are recorded (and alert policies notified) (${dialect})`, () => {
    test("shell and dependent tasks: warning on the attempt, one alert event each, the task goes on", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "upstream", tasks: [{ name: "never", type: "noop" }] });
      await h.save({
        name: "warned",
        tasks: [
          { name: "slow", type: "shell", timeout: 1, timeoutStrategy: "WARN", script: `while [ ! -f '\${dir}/go' ]; do sleep 0.05; done; echo done` },
          { name: "dep", type: "dependent", timeout: 1, timeoutStrategy: "WARN", checkInterval: 1, relation: "AND", dependOn: [{ workflow: "upstream", cycle: "day", dateValue: "today" }] },
        ],
      });
      const id = await h.run("warned", { params: { dir: h.dataDir } });
      const warned = await h.waitFor("both warnings recorded", async () => {
        const rows = await h.tasks(id);
        return rows.length === 2 && rows.every((r) => r.warning !== null) ? rows : null;
      });
      for (const r of warned) expect(r.state).toBe("RUNNING_EXECUTION"); // it goes on
      const slow = warned.find((r) => r.taskName === "slow")!;
      expect(slow.warning).toContain("still running after its 1s timeout (timeout strategy WARN); it goes on. Alert policies with task-warn-timeout are notified");
      expect(warned.find((r) => r.taskName === "dep")!.warning).toContain("still waiting for its dependencies after its 1s timeout");

      const events = await rawQuery(h.store.url, "SELECT kind, project_id, workflow_instance_id, task_instance_id, message, delivered_at FROM alert_events ORDER BY id");
      expect(events.map((e) => [e.kind, Number(e.project_id), Number(e.workflow_instance_id), Number(e.task_instance_id), e.delivered_at]).sort()).toEqual(
        warned.map((r) => ["TASK_TIMEOUT_WARNING", h.projectId, id, r.id, null]).sort(),
      );
      // A repeated report changes nothing: only the first warning of an attempt counts.
      expect(await h.store.taskInstances.recordWarning({ id: slow.id, attempt: slow.attempt, token: slow.dispatchToken, message: "again" })).toBe(false);
      expect(await h.store.taskInstances.recordWarning({ id: slow.id, attempt: slow.attempt, token: "forged", message: "x" })).toBe(false);

      // Visible in the API view and in `porpoise status`.
      const view = toTaskInstance(slow);
      expect(view.warning).toBe(slow.warning);
      const status = renderStatus({ id, state: "RUNNING_EXECUTION", tasks: [JSON.parse(JSON.stringify(view))] } as never, Date.now()).join("\n");
      expect(status).toContain("warning: still running after its 1s timeout");

      writeFileSync(join(h.dataDir, "go"), "");
      await h.waitFor("slow to succeed", async () => (await h.latest(id, "slow"))?.state === "SUCCESS");
      const log = await Bun.file((await h.latest(id, "slow"))!.logPath!).text();
      expect(log).toContain("the warning is recorded on the task instance");
      expect(log).not.toContain("warning sent");
      await h.engine.client.control(id, "stop", h.actor);
      await h.waitState(id, ["STOP"]);
    }, 60_000);
  });
}
