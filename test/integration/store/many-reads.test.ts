// The reads a master makes for a burst of woken runs (instance-loading.ts loadWoken): instances,
// their projects and their task rows for many ids at once answer exactly what the one-id reads
// answer for each id, across projects, for ids that do not exist (left out), for an empty list,
// for more ids than one statement takes (rows.ts inChunks: 500 per statement), and again after every
// connection of the store was killed (the master's load retries them through an outage).

import { describe, expect, test } from "bun:test";
import { dialects, freshStore, rawQuery } from "../../helpers/stores.ts";
import { waitFor } from "../../helpers/wait.ts";
import { definition, userWithProject } from "./fixtures.ts";

describe.each(dialects)("reads of many instances at once (%s)", (dialect) => {
  test("getMany, ofInstances and listForInstances answer what get, ofInstance and listForInstance answer per id", async () => {
    await using store = await freshStore(dialect);
    const { project: etl, actor } = await userWithProject(store);
    const { project: ml } = await userWithProject(store, { user: "bob", project: "ml" });
    await store.projects.update(ml.id, { params: { region: "eu" } }, actor);
    const { workflow: daily } = await store.workflows.create(etl.id, definition("daily"), actor);
    const { workflow: train } = await store.workflows.create(ml.id, definition("train"), actor);
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) {
      const wf = i % 2 === 0 ? daily : train;
      const wi = await store.instances.create({ workflowId: wf.id, slot: i, epoch: 1, runType: "START_PROCESS", state: i === 5 ? "SUCCESS" : "RUNNING_EXECUTION" });
      ids.push(wi.id);
    }
    // Rows for some instances only, inserted out of name and attempt order.
    const insert = (id: number, taskName: string, attempt: number, state: "DISPATCH" | "FAILURE") =>
      ({ op: "insert", workflowInstanceId: id, taskName, taskType: "shell", attempt, state, dispatchToken: `${id}-${taskName}-${attempt}`, slot: 0, epoch: 1, submitTime: new Date() }) as const;
    const applied = await store.taskInstances.applyBatch([
      insert(ids[0]!, "load", 1, "DISPATCH"),
      insert(ids[0]!, "extract", 2, "DISPATCH"),
      insert(ids[0]!, "extract", 1, "FAILURE"),
      insert(ids[3]!, "extract", 1, "DISPATCH"),
    ]);
    expect(applied.map((o) => o.outcome)).toEqual(["applied", "applied", "applied", "applied"]);

    const missing = ids[5]! + 1000;
    const asked = [missing, ...ids].reverse();
    const [instances, projects, rows] = await Promise.all([store.instances.getMany(asked), store.projects.ofInstances(asked), store.taskInstances.listForInstances(asked)]);

    expect(instances.map((i) => i.id).sort((a, b) => a - b)).toEqual(ids);
    for (const id of ids) {
      expect(instances.find((i) => i.id === id)).toEqual((await store.instances.get(id))!);
      expect(projects.get(id)).toEqual((await store.projects.ofInstance(id))!);
      expect(rows.get(id) ?? []).toEqual(await store.taskInstances.listForInstance(id));
    }
    expect(projects.get(ids[1]!)).toMatchObject({ name: "ml", params: { region: "eu" } });
    expect(projects.get(ids[0]!)).toMatchObject({ name: "etl" });
    expect(rows.get(ids[0]!)!.map((r) => [r.taskName, r.attempt])).toEqual([["extract", 1], ["extract", 2], ["load", 1]]);
    expect([...rows.keys()].sort((a, b) => a - b)).toEqual([ids[0]!, ids[3]!]);
    expect(projects.has(missing)).toBe(false);
    expect(instances.some((i) => i.id === missing)).toBe(false);

    expect(await store.instances.getMany([])).toEqual([]);
    expect((await store.projects.ofInstances([])).size).toBe(0);
    expect((await store.taskInstances.listForInstances([])).size).toBe(0);

    // More ids than one statement takes: the stored ones spread over three slices.
    const many = Array.from({ length: 1_200 }, (_, i) => missing + 1 + i);
    many.splice(0, 0, ids[0]!);
    many.splice(600, 0, ids[1]!);
    many.push(ids[3]!);
    expect((await store.instances.getMany(many)).map((i) => i.id).sort((a, b) => a - b)).toEqual([ids[0]!, ids[1]!, ids[3]!]);
    expect([...(await store.projects.ofInstances(many)).keys()].sort((a, b) => a - b)).toEqual([ids[0]!, ids[1]!, ids[3]!]);
    expect([...(await store.taskInstances.listForInstances(many)).keys()].sort((a, b) => a - b)).toEqual([ids[0]!, ids[3]!]);

    if (dialect !== "postgres") return;
    const all = async () => {
      const [i, p, r] = await Promise.all([store.instances.getMany(ids), store.projects.ofInstances(ids), store.taskInstances.listForInstances(ids)]);
      return { i: i.map((x) => x.id).sort((a, b) => a - b), p: [...p.keys()].sort((a, b) => a - b), r: [...r.keys()].sort((a, b) => a - b) };
    };
    const before = await all();
    await rawQuery(store.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    // The first statements after the kill may fail as an outage (the loader retries them); then the same answers.
    expect(await waitFor("the reads answer again", () => all().catch(() => null), 10_000, 50)).toEqual(before);
  });
});
