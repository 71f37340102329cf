// The hot reads that run as drizzle prepared queries on Postgres (store/prepared-reads.ts) answer
// as the built ones do on SQLite, for rows that exist and rows that do not, and keep answering
// after every connection of the store was killed (the pool that replaces it prepares them again).

import { describe, expect, test } from "bun:test";
import type { Store } from "../../../src/store/store.ts";
import { dialects, freshStore, rawQuery } from "../../helpers/stores.ts";
import { waitFor } from "../../helpers/wait.ts";
import { definition, userWithProject } from "./fixtures.ts";

async function answers(store: Store, ids: { projectId: number; userId: number; workflowId: number; instanceId: number }) {
  return {
    instance: await store.instances.get(ids.instanceId),
    noInstance: await store.instances.get(ids.instanceId + 1000),
    project: await store.projects.getById(ids.projectId),
    ofInstance: await store.projects.ofInstance(ids.instanceId),
    noOfInstance: await store.projects.ofInstance(ids.instanceId + 1000),
    byName: await store.projects.getByName("etl"),
    noProject: await store.projects.getByName("nope"),
    role: await store.members.role(ids.projectId, ids.userId),
    noRole: await store.members.role(ids.projectId, ids.userId + 1000),
    workflow: await store.workflows.get(ids.projectId, "daily"),
    noWorkflow: await store.workflows.get(ids.projectId, "weekly"),
    attempts: (await store.taskInstances.listForInstance(ids.instanceId)).map((a) => [a.taskName, a.attempt, a.state]),
    noAttempts: await store.taskInstances.listForInstance(ids.instanceId + 1000),
    released: await store.instances.releaseSerial(ids.workflowId),
  };
}

describe.each(dialects)("hot reads (%s)", (dialect) => {
  test("answer what is stored, and null or [] for what is not; again after the connections were killed", async () => {
    await using store = await freshStore(dialect);
    const { user, project, actor } = await userWithProject(store);
    const { workflow } = await store.workflows.create(project.id, definition("daily"), actor);
    const wi = await store.instances.create({ workflowId: workflow.id, slot: 3, epoch: 1, runType: "START_PROCESS", state: "RUNNING_EXECUTION" });
    await store.taskInstances.applyBatch([
      { op: "insert", workflowInstanceId: wi.id, taskName: "b", taskType: "shell", attempt: 1, state: "DISPATCH", dispatchToken: "t1", slot: 3, epoch: 1, submitTime: new Date() },
      { op: "insert", workflowInstanceId: wi.id, taskName: "a", taskType: "shell", attempt: 2, state: "DISPATCH", dispatchToken: "t2", slot: 3, epoch: 1, submitTime: new Date() },
      { op: "insert", workflowInstanceId: wi.id, taskName: "a", taskType: "shell", attempt: 1, state: "DISPATCH", dispatchToken: "t3", slot: 3, epoch: 1, submitTime: new Date() },
    ]);
    const ids = { projectId: project.id, userId: user.id, workflowId: workflow.id, instanceId: wi.id };
    const first = await answers(store, ids);
    expect(first.instance).toMatchObject({ id: wi.id, workflowName: "daily", state: "RUNNING_EXECUTION", slot: 3 });
    expect(first.instance!.createdAt).toBeInstanceOf(Date);
    expect(first.project).toMatchObject({ id: project.id, name: "etl", description: "nightly loads" });
    expect(first.byName).toEqual(first.project);
    expect(first.ofInstance).toEqual(first.project);
    expect(first.role).toBe("owner");
    expect(first.workflow).toMatchObject({ id: workflow.id, name: "daily", projectId: project.id });
    expect(first.attempts).toEqual([["a", 1, "DISPATCH"], ["a", 2, "DISPATCH"], ["b", 1, "DISPATCH"]]);
    expect([first.noInstance, first.noProject, first.noOfInstance, first.noRole, first.noWorkflow, first.released]).toEqual([null, null, null, null, null, null]);
    expect(first.noAttempts).toEqual([]);
    if (dialect !== "postgres") return;
    await rawQuery(store.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    // The first statements after the kill may fail as an outage (callers retry them); then the same answers.
    const again = await waitFor("the reads answer again", () => answers(store, ids).catch(() => null), 10_000, 50);
    expect(again).toEqual(first);
  });
});
