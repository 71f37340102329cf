// Alert channels, groups, policies and the outbox (migration 0015) on both dialects: secrets
// sealed at rest and never shown; groups resolve channel names and refuse unknown ones; the
// group commit writes an outbox row per matching policy only when its state change applied; the
// outbox is claimed with a lease that one owner holds at a time and that runs out.

import { describe, expect, test } from "bun:test";
import { ALERT_EVENTS, endMask, eventMask } from "../../../src/core/alert-events.ts";
import { ConflictError, NotFoundError, ValidationError } from "../../../src/core/errors.ts";
import { openStore } from "../../../src/store/open.ts";
import type { AlertOp, Store } from "../../../src/store/store.ts";
import { dialects, freshStore, rawQuery } from "../../helpers/stores.ts";
import { definition, firstPage, system, userWithProject } from "./fixtures.ts";

const HOOK = "https://hooks.example.com/services/T000/B000/canary-hook-token";

async function setUp(store: Store) {
  const { project, actor } = await userWithProject(store);
  const { workflow } = await store.workflows.create(project.id, definition("nightly"), actor);
  const channel = await store.alerts.createChannel(project.id, { name: "ops", type: "slack", description: "", settings: {}, secrets: { url: HOOK } }, actor);
  const group = await store.alerts.createGroup(project.id, { name: "on-call", description: "", channels: ["ops"], globalChannels: [] }, actor);
  return { project, actor, workflow, channel, group };
}

/** An instance end through the group commit, as the master writes it; returns the alert op's outcome. */
async function endRun(store: Store, projectId: number, workflowId: number, to: "SUCCESS" | "FAILURE", applies = true) {
  const instance = await store.instances.create({ workflowId, slot: 0, runType: "START_PROCESS" });
  const from = applies ? [instance.state] : ["PAUSE" as const];
  const alert: AlertOp = { op: "alert", kind: "INSTANCE_END", projectId, workflowId, scheduleId: null, workflowInstanceId: instance.id, taskInstanceId: null, state: to, message: null, mask: endMask(to)!, after: [0] };
  const outcomes = await store.taskInstances.applyBatch([{ op: "instance", id: instance.id, from, to, epoch: 1, set: { endTime: new Date() } }, alert]);
  return { instance, outcome: outcomes[1]!.outcome };
}

describe.each(dialects)("alerts on %s", (dialect) => {
  test("channels: secrets are sealed at rest, listed by name only, merged on update; names are unique per project and among globals", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, channel } = await setUp(store);
    expect(channel).toMatchObject({ projectId: project.id, name: "ops", type: "slack", secretsSet: ["url"] });
    expect(JSON.stringify(await store.alerts.listChannels(project.id, firstPage))).not.toContain("canary-hook-token");
    const [row] = await rawQuery(store.url, "SELECT secrets FROM alert_channels WHERE id = " + channel.id);
    // No secret key configured here: stored as the datasource codec's plain form, never in settings.
    expect(String(row!.secrets)).toStartWith("plain:");

    const updated = await store.alerts.updateChannel(project.id, "ops", { description: "night shift", secrets: { extra: "x" } }, actor);
    expect(updated.secretsSet).toEqual(["extra", "url"]);
    const removed = await store.alerts.updateChannel(project.id, "ops", { secrets: { extra: null } }, actor);
    expect(removed.secretsSet).toEqual(["url"]);
    const [delivery] = await store.alerts.channelsForDelivery([channel.id]);
    expect(delivery!.secrets).toEqual({ url: HOOK });

    await expect(store.alerts.createChannel(project.id, { name: "ops", type: "email", description: "", settings: {}, secrets: {} }, actor)).rejects.toBeInstanceOf(ConflictError);
    await store.alerts.createChannel(null, { name: "pager", type: "pagerduty", description: "", settings: {}, secrets: { routingKey: "r" } }, actor);
    await expect(store.alerts.createChannel(null, { name: "pager", type: "pagerduty", description: "", settings: {}, secrets: { routingKey: "r" } }, actor)).rejects.toBeInstanceOf(ConflictError);
    // A project channel may share a global's name: they live in different scopes.
    await store.alerts.createChannel(project.id, { name: "pager", type: "slack", description: "", settings: {}, secrets: { url: HOOK } }, actor);
    expect((await store.alerts.listChannels(null, firstPage)).items.map((c) => c.name)).toEqual(["pager"]);
    // The audit says what changed, never a secret.
    const audit = await store.audit.list({ ...firstPage, projectId: project.id });
    expect(audit.items.map((a) => a.action)).toContain("alert-channel.update");
    expect(JSON.stringify(audit)).not.toContain("canary-hook-token");
  });

  test("with a secret key the secrets are AES-GCM at rest; another key cannot open them", async () => {
    await using store = await freshStore(dialect);
    const keyed = await openStore({ url: store.url, migrate: false, secretKey: "alerts-key-1" });
    try {
      const { project, actor } = await userWithProject(keyed);
      const c = await keyed.alerts.createChannel(project.id, { name: "pd", type: "pagerduty", description: "", settings: {}, secrets: { routingKey: "canary-routing-key" } }, actor);
      const [row] = await rawQuery(store.url, "SELECT secrets FROM alert_channels WHERE id = " + c.id);
      expect(String(row!.secrets)).toStartWith("aes-gcm:");
      expect(String(row!.secrets)).not.toContain("canary-routing-key");
      expect((await keyed.alerts.channelsForDelivery([c.id]))[0]!.secrets).toEqual({ routingKey: "canary-routing-key" });
      const wrong = await openStore({ url: store.url, migrate: false, secretKey: "alerts-key-2" });
      try {
        await expect(wrong.alerts.channelsForDelivery([c.id])).rejects.toThrow(/secret key/);
      } finally {
        await wrong.close();
      }
    } finally {
      await keyed.close();
    }
  });

  test("groups name their channels; an unknown one is refused naming its field; deletes refuse what is in use", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow, group } = await setUp(store);
    expect(group.channels).toEqual([expect.objectContaining({ name: "ops", type: "slack", global: false })]);
    const err = await store.alerts.createGroup(project.id, { name: "g2", description: "", channels: ["ops", "nope"], globalChannels: ["ops"] }, actor).catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    // "ops" exists in the project, not among the globals.
    expect((err as ValidationError).details.map((d) => d.path)).toEqual(["channels.1", "globalChannels.0"]);
    expect(await store.alerts.getGroup(project.id, "g2")).toBeNull();

    // Another project's channel is not reachable by name.
    const other = await userWithProject(store, { user: "bob", project: "other" });
    await store.alerts.createChannel(other.project.id, { name: "bobs", type: "slack", description: "", settings: {}, secrets: { url: HOOK } }, other.actor);
    await expect(store.alerts.createGroup(project.id, { name: "g3", description: "", channels: ["bobs"], globalChannels: [] }, actor)).rejects.toBeInstanceOf(ValidationError);

    await expect(store.alerts.deleteChannel(project.id, "ops", actor)).rejects.toThrow(/on-call/);
    const policy = await store.alerts.createPolicy(project.id, { workflowId: workflow.id, scheduleId: null, groupId: group.id, events: eventMask(["failure"]) }, actor);
    await expect(store.alerts.deleteGroup(project.id, "on-call", actor)).rejects.toBeInstanceOf(ConflictError);
    await store.alerts.deletePolicy(project.id, policy.id, actor);
    await store.alerts.deleteGroup(project.id, "on-call", actor);
    await store.alerts.deleteChannel(project.id, "ops", actor);
    await expect(store.alerts.deleteChannel(project.id, "ops", actor)).rejects.toBeInstanceOf(NotFoundError);
    // A policy of another project is not found by id.
    expect(await store.alerts.getPolicy(other.project.id, policy.id)).toBeNull();
  });

  test("the group commit writes one outbox row per matching policy, only when the end applied; none without a policy", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow, group } = await setUp(store);
    // No policy yet: nothing is written.
    expect((await endRun(store, project.id, workflow.id, "FAILURE")).outcome).toBe("applied");
    expect(await store.alerts.pendingCount()).toBe(0);

    await store.alerts.createPolicy(project.id, { workflowId: workflow.id, scheduleId: null, groupId: group.id, events: eventMask(["failure"]) }, actor);
    await store.alerts.createPolicy(project.id, { workflowId: workflow.id, scheduleId: null, groupId: group.id, events: eventMask(["task-failed"]) }, actor);
    const failed = await endRun(store, project.id, workflow.id, "FAILURE");
    expect(await store.alerts.pendingCount(project.id)).toBe(1);
    // A transition that did not apply (stale) writes no alert.
    expect((await endRun(store, project.id, workflow.id, "FAILURE", false)).outcome).toBe("stale");
    expect(await store.alerts.pendingCount(project.id)).toBe(1);
    // A success matches the failure policy too (a PagerDuty channel resolves on it; others skip it).
    await endRun(store, project.id, workflow.id, "SUCCESS");
    expect(await store.alerts.pendingCount(project.id)).toBe(2);

    const rows = await store.alerts.claimDue("node-a", 10, 60_000);
    expect(rows.map((r) => [r.kind, r.state, r.workflowInstanceId === failed.instance.id || r.state === "SUCCESS", r.attempts])).toEqual([
      ["INSTANCE_END", "FAILURE", true, 1],
      ["INSTANCE_END", "SUCCESS", true, 1],
    ]);
  });

  test("claims: one owner at a time, a claim that runs out is due again, retries wait, finish needs the claim", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow, group } = await setUp(store);
    await store.alerts.createPolicy(project.id, { workflowId: workflow.id, scheduleId: null, groupId: group.id, events: eventMask(["always"]) }, actor);
    await endRun(store, project.id, workflow.id, "FAILURE");
    await endRun(store, project.id, workflow.id, "FAILURE");

    const a = await store.alerts.claimDue("node-a", 1, 60_000);
    const b = await store.alerts.claimDue("node-b", 10, 60_000);
    expect(a.length).toBe(1);
    expect(b.length).toBe(1);
    expect(b[0]!.id).not.toBe(a[0]!.id);
    expect(await store.alerts.claimDue("node-c", 10, 60_000)).toEqual([]);
    // Only the holder finishes or reschedules its row.
    expect(await store.alerts.finish(a[0]!.id, "node-b", null)).toBe(false);
    expect(await store.alerts.retryLater(b[0]!.id, "node-b", new Date(Date.now() + 3_600_000), "HTTP 500")).toBe(true);
    expect(await store.alerts.claimDue("node-c", 10, 60_000)).toEqual([]);
    expect(await store.alerts.getOutbox(b[0]!.id)).toMatchObject({ lastError: "HTTP 500", doneAt: null, attempts: 1 });

    // node-a "dies": its claim (here 1 ms) runs out and another node takes the row, attempt 2.
    await store.alerts.retryLater(b[0]!.id, "node-b", new Date(Date.now() - 1000), "HTTP 500");
    const short = await store.alerts.claimDue("node-d", 10, 1);
    expect(short.map((r) => r.id)).toEqual([b[0]!.id]);
    const again = await (async () => {
      for (;;) {
        const got = await store.alerts.claimDue("node-e", 10, 60_000);
        if (got.length > 0) return got;
        await Bun.sleep(5);
      }
    })();
    expect(again.map((r) => [r.id, r.attempts])).toEqual([[b[0]!.id, 3]]);
    expect(await store.alerts.finish(b[0]!.id, "node-d", null)).toBe(false);
    expect(await store.alerts.finish(b[0]!.id, "node-e", null)).toBe(true);
    expect(await store.alerts.finish(a[0]!.id, "node-a", "gave up")).toBe(true);
    expect(await store.alerts.pendingCount()).toBe(0);

    const d = await store.alerts.recordDelivery({ outboxId: a[0]!.id, projectId: project.id, channelId: 1, channelName: "ops", channelType: "slack", kind: "INSTANCE_END", workflowInstanceId: a[0]!.workflowInstanceId, attempt: 1, status: "sent", detail: "HTTP 200" });
    expect(await store.alerts.deliveredChannels(a[0]!.id)).toEqual(new Set([1]));
    const list = await store.alerts.listDeliveries(project.id, { ...firstPage, workflowInstanceId: a[0]!.workflowInstanceId! });
    expect(list.items).toEqual([d]);
    expect((await store.alerts.listDeliveries(project.id + 1000, firstPage)).total).toBe(0);

    // Masters claiming at the same moment never share a row (Postgres: FOR UPDATE SKIP LOCKED).
    for (let i = 0; i < 6; i++) await endRun(store, project.id, workflow.id, "FAILURE");
    const claims = await Promise.all(["m1", "m2", "m3"].map((owner) => store.alerts.claimDue(owner, 4, 60_000)));
    const ids = claims.flat().map((r) => r.id);
    expect(ids.length).toBe(6);
    expect(new Set(ids).size).toBe(6);

    // A restarted node (same id) takes its earlier claims back at once; others' stay claimed.
    expect(await store.alerts.releaseClaims("m1")).toBe(claims[0]!.length);
    expect((await store.alerts.claimDue("m4", 10, 60_000)).map((r) => r.id).sort()).toEqual(claims[0]!.map((r) => r.id).sort());
  });

  test("a WARN timeout and a misfire write outbox rows for the policies that want them, in their own transaction", async () => {
    await using store = await freshStore(dialect);
    const { project, actor, workflow, group } = await setUp(store);
    const schedule = await store.schedules.create(project.id, workflow.id, { cron: "0 0 3 * * ?", timezone: "UTC" } as never, actor);
    await store.alerts.createPolicy(project.id, { workflowId: null, scheduleId: schedule.id, groupId: group.id, events: ALERT_EVENTS.misfire }, actor);
    await store.alerts.createPolicy(project.id, { workflowId: workflow.id, scheduleId: null, groupId: group.id, events: ALERT_EVENTS["task-warn-timeout"] }, actor);
    expect(await store.alerts.recordMisfire(schedule.id, "missed 3 fires")).toBe(1);

    const instance = await store.instances.create({ workflowId: workflow.id, slot: 0, runType: "START_PROCESS" });
    const [ins] = await store.taskInstances.applyBatch([{ op: "insert", workflowInstanceId: instance.id, taskName: "extract", taskType: "shell", attempt: 1, state: "DISPATCH", dispatchToken: "tok", slot: 0, epoch: 0 }]);
    const id = (ins as { id: number }).id;
    expect(await store.taskInstances.recordWarning({ id, attempt: 1, token: "tok", message: "still running after 1s" })).toBe(true);
    // Only the first warning counts.
    expect(await store.taskInstances.recordWarning({ id, attempt: 1, token: "tok", message: "again" })).toBe(false);
    const rows = await store.alerts.claimDue("n", 10, 60_000);
    expect(rows.map((r) => [r.kind, r.scheduleId, r.taskInstanceId, r.message])).toEqual([
      ["MISFIRE", schedule.id, null, "missed 3 fires"],
      ["TASK_WARN_TIMEOUT", null, id, "still running after 1s"],
    ]);
    void system;
  });
});
