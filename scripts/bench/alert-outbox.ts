// What the alert outbox costs the master's group commit (issue 11): the `alert` op an instance's
// end carries is one INSERT … SELECT over alert_policies (src/store/alert-outbox-sql.ts). Measures
// a one-op batch (an attempt update that matches nothing) with and without that op, on a store
// with no alert policy and one with 100 policies on other workflows, in CPU time of this process
// (wall clock on a shared 2-core machine is noise). Not part of `npm run bench`: run it alone.
//
//   bun scripts/bench/alert-outbox.ts [--dialect sqlite|postgres] [--n 20000]

import { parseWorkflowDefinition } from "../../src/core/workflow-schema.ts";
import type { AlertOp, Dialect, TaskBatchOp } from "../../src/store/store.ts";
import { freshStore } from "../../test/helpers/stores.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const dialect = arg("dialect", "sqlite") as Dialect;
const n = Number(arg("n", dialect === "sqlite" ? "20000" : "2000"));

await using store = await freshStore(dialect);
const actor = { userId: null, userName: "bench" };
const user = await store.users.create({ name: "bench", passwordHash: null, isAdmin: true }, actor);
const project = await store.projects.create({ name: "bench", description: "", ownerId: user.id }, actor);
const def = (name: string) => parseWorkflowDefinition({ name, tasks: [{ name: "t", type: "noop" }] });
const { workflow } = await store.workflows.create(project.id, def("w"), actor);
const miss: TaskBatchOp = { op: "update", id: 2_000_000_000, attempt: 1, token: null, from: ["DISPATCH"], to: "SUCCESS" };
const alert: AlertOp = { op: "alert", kind: "INSTANCE_END", projectId: project.id, workflowId: workflow.id, scheduleId: null, workflowInstanceId: 1, taskInstanceId: null, state: "SUCCESS", message: null, mask: 7, after: [] };

async function cpuPerBatch(ops: TaskBatchOp[]): Promise<number> {
  for (let i = 0; i < n / 10; i++) await store.taskInstances.applyBatch(ops); // warm-up
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) await store.taskInstances.applyBatch(ops);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

async function round(label: string): Promise<void> {
  const rows: [string, number[]][] = [["without the alert op", []], ["with the alert op", []]];
  for (let r = 0; r < 5; r++) {
    rows[0]![1].push(await cpuPerBatch([miss]));
    rows[1]![1].push(await cpuPerBatch([miss, alert]));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const [a, b] = rows.map(([, xs]) => median(xs)) as [number, number];
  console.log(`${dialect}, ${label}: ${a.toFixed(1)} µs CPU per batch without, ${b.toFixed(1)} with the alert op: +${(b - a).toFixed(1)} µs per instance end (median of 5 × ${n})`);
}

await round("no alert policy");
const channel = await store.alerts.createChannel(project.id, { name: "c", type: "slack", description: "", settings: {}, secrets: { url: "https://h.example/x" } }, actor);
const group = await store.alerts.createGroup(project.id, { name: "g", description: "", channels: [channel.name], globalChannels: [] }, actor);
for (let i = 0; i < 100; i++) {
  const other = await store.workflows.create(project.id, def(`other-${i}`), actor);
  await store.alerts.createPolicy(project.id, { workflowId: other.workflow.id, scheduleId: null, groupId: group.id, events: 7 }, actor);
}
await round("100 policies on other workflows");
