// Fault: kill -9 of a real `porpoise all` while it delivers an alert (its receiver hangs, so the
// outbox row is claimed and the request in flight), then a restart on the same data dir. The
// alert was committed with the run's end (the outbox), so it is not lost: the restarted node
// takes its own earlier claim back at once (without that it waited out the 2-minute claim) and
// delivers it, once.

import { describe, expect, test } from "bun:test";
import { dialects } from "../helpers/stores.ts";
import { openStore } from "../../src/store/open.ts";
import { porpoiseAll, seedProjectWithToken, waitFor } from "../cluster/porpoise-process.ts";
import { httpReceiver } from "../helpers/alert-receivers.ts";

describe.each(dialects)("alerts across kill -9 (%s)", (dialect) => {
  test("kill -9 mid-delivery: after the restart the alert is delivered, once per channel, from the outbox", async () => {
    await using hooks = httpReceiver();
    await using env = await porpoiseAll(dialect, { prefix: "porpoise-alerts-kill9-", extraArgs: ["--base-url", "https://porpoise.example"] });
    const store = await openStore({ url: env.url });
    try {
      const { token } = await seedProjectWithToken(store);
      const P = "/api/v1/projects/etl";
      const call = async (url: string, method: string, path: string, body?: unknown) => {
        const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        expect({ path, ok: res.status < 300 }).toEqual({ path, ok: true });
        return (await res.json()) as any;
      };
      hooks.hang("/hook");
      let id: number;
      {
        await using p = await env.start();
        const url = /ready on (http:\S+)/.exec(p.stdout() + p.stderr())![1]!;
        await call(url, "POST", `${P}/workflows`, { name: "nightly", tasks: [{ name: "load", type: "shell", script: "echo 'restart canary'; exit 1" }] });
        await call(url, "POST", `${P}/alert-channels`, { name: "hook", type: "webhook", secrets: { url: `${hooks.url}/hook` } });
        await call(url, "POST", `${P}/alert-groups`, { name: "ops", channels: ["hook"] });
        await call(url, "POST", `${P}/alert-policies`, { workflow: "nightly", group: "ops", events: ["failure"] });
        id = (await call(url, "POST", `${P}/workflows/nightly/run`, {})).id;
        // The alert is on its way: the receiver holds the request open.
        await waitFor("the delivery in flight", async () => hooks.on("/hook").length >= 1, 30_000, 20);
        p.signal("SIGKILL");
        await p.exit();
      }
      expect(await store.alerts.pendingCount()).toBe(1);
      hooks.answer();
      {
        await using p = await env.start();
        await waitFor("the alert delivered after the restart", async () => hooks.on("/hook").some((r) => r.status === 202), 30_000, 20);
        await waitFor("its row done", async () => (await store.alerts.pendingCount()) === 0, 10_000, 20);
        p.signal("SIGTERM");
        await p.exit();
      }
      const delivered = hooks.on("/hook").filter((r) => r.status === 202);
      expect(delivered.length).toBe(1);
      expect(delivered[0]!.json).toMatchObject({ kind: "INSTANCE_END", project: "etl", workflow: "nightly", workflowInstanceId: id, state: "FAILURE", link: `https://porpoise.example/projects/etl/runs/${id}` });
      expect(delivered[0]!.json.failedTasks[0].logTail).toContain("restart canary");
      const list = await store.alerts.listDeliveries((await store.projects.getByName("etl"))!.id, { limit: 10, offset: 0 });
      expect(list.items.map((d) => [d.channelName, d.status, d.attempt])).toEqual([["hook", "sent", 2]]);
    } finally {
      await store.close();
    }
  }, 90_000);
});
