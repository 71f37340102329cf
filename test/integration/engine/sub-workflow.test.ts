// Sub_workflow children (issue 9 items 2, 11, 12): nesting is bounded, stop and pause reach
// children and grandchildren, resume resumes the same paused child, the child's OUT params flow
// to the parent's downstream tasks, and a run reaches another project only with its user's rights.
// Workflows are saved through the store here, past the API's save-time checks, as an older
// version or a race between two saves could leave them.
import { describe, expect, test } from "bun:test";
import { MAX_SUB_WORKFLOW_DEPTH } from "../../../src/core/project-roles.ts";
import { parseWorkflowDefinition } from "../../../src/core/workflow-schema.ts";
import type { WorkflowInstance } from "../../../src/store/store.ts";
import { dialects } from "../../helpers/stores.ts";
import { harness, writeGate, type Harness } from "./harness.ts";

const waitFile = (name: string) => `while [ ! -f '\${dir}/${name}' ]; do sleep 0.02; done`;

async function instancesOf(h: Harness, projectId = h.projectId): Promise<WorkflowInstance[]> {
  return (await h.store.instances.list({ projectId, limit: 500, offset: 0 })).items;
}

async function childOf(h: Harness, parentId: number, task = "sub", projectId = h.projectId): Promise<WorkflowInstance> {
  return h.waitFor(`the child of ${parentId}/${task}`, async () => {
    const ids = new Set((await h.tasks(parentId)).filter((t) => t.taskName === task).map((t) => t.id));
    return (await instancesOf(h, projectId)).find((i) => i.parentTaskInstanceId !== null && ids.has(i.parentTaskInstanceId));
  });
}

/** Another user's project with one workflow; `role` makes alice (the harness user) a member. */
async function foreignProject(h: Harness, role?: "viewer" | "developer") {
  const bob = await h.store.users.create({ name: "bob", passwordHash: null, isAdmin: false }, { userId: null, userName: "system" });
  const actor = { userId: bob.id, userName: bob.name };
  const project = await h.store.projects.create({ name: "beta", description: "", ownerId: bob.id }, actor);
  await h.store.workflows.create(project.id, parseWorkflowDefinition({ name: "secret", tasks: [{ name: "s", type: "shell", script: "echo '#{setValue(secret=beta-value)}'" }] }), actor);
  if (role) await h.store.members.add(project.id, h.actor.userId!, role, actor);
  return { bob, actor, project };
}

for (const dialect of dialects) {
  describe(`engine sub_workflow (${dialect})`, () => {
    test(`mutual recursion A → B → A ends FAILURE at depth ${MAX_SUB_WORKFLOW_DEPTH}: ${MAX_SUB_WORKFLOW_DEPTH + 1} instances, no more`, async () => {
      await using h = await harness(dialect);
      await h.save({ name: "a", tasks: [{ name: "sub", type: "sub_workflow", workflow: "b" }] });
      await h.save({ name: "b", tasks: [{ name: "sub", type: "sub_workflow", workflow: "a" }] });
      const root = await h.run("a");
      expect((await h.waitState(root, ["SUCCESS", "FAILURE", "STOP"], 30_000)).state).toBe("FAILURE");
      const all = await instancesOf(h);
      expect(all.length).toBe(MAX_SUB_WORKFLOW_DEPTH + 1);
      expect(all.map((i) => i.depth).sort((x, y) => x - y)).toEqual(Array.from({ length: MAX_SUB_WORKFLOW_DEPTH + 1 }, (_, k) => k));
      await h.waitFor("every instance ended", async () => (await instancesOf(h)).every((i) => i.state === "FAILURE"));
      const deepest = all.find((i) => i.depth === MAX_SUB_WORKFLOW_DEPTH)!;
      expect((await h.latest(deepest.id, "sub"))!.message).toContain(`nesting is limited to ${MAX_SUB_WORKFLOW_DEPTH} levels`);
    }, 60_000);

    test("stop of the root reaches the child and the grandchild: all STOP, the grandchild's task KILL", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "leaf", tasks: [{ name: "w", type: "shell", script: waitFile("never") }] });
      await h.save({ name: "mid", tasks: [{ name: "sub", type: "sub_workflow", workflow: "leaf", params: { dir: "${dir}" } }] });
      await h.save({ name: "root", tasks: [{ name: "sub", type: "sub_workflow", workflow: "mid", params: { dir: "${dir}" } }, { name: "after", type: "noop", deps: ["sub"] }] });
      const root = await h.run("root", { params: { dir: h.dataDir } });
      const mid = await childOf(h, root);
      const leaf = await childOf(h, mid.id);
      await h.waitFor("the leaf task running", async () => (await h.latest(leaf.id, "w"))?.state === "RUNNING_EXECUTION");
      await h.engine.client.control(root, "stop", h.actor);
      for (const id of [root, mid.id, leaf.id]) expect((await h.waitState(id, ["STOP", "FAILURE", "SUCCESS"])).state).toBe("STOP");
      expect((await h.latest(leaf.id, "w"))!.state).toBe("KILL");
      expect(await h.latest(root, "after")).toBeUndefined();
    }, 60_000);

    test("pause of the parent pauses its running child; resume resumes that same child and the run ends SUCCESS", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "child", tasks: [{ name: "c1", type: "shell", script: waitFile("go") }, { name: "c2", type: "noop", deps: ["c1"] }] });
      await h.save({ name: "parent", tasks: [{ name: "sub", type: "sub_workflow", workflow: "child", params: { dir: "${dir}" } }, { name: "after", type: "noop", deps: ["sub"] }] });
      const id = await h.run("parent", { params: { dir: h.dataDir } });
      const child = await childOf(h, id);
      await h.waitFor("c1 running", async () => (await h.latest(child.id, "c1"))?.state === "RUNNING_EXECUTION");
      await h.engine.client.control(id, "pause", h.actor);
      await h.waitState(child.id, ["READY_PAUSE"]);
      writeGate(h.dataDir, "go", "");
      expect((await h.waitState(child.id, ["PAUSE", "SUCCESS", "FAILURE"])).state).toBe("PAUSE");
      expect((await h.waitState(id, ["PAUSE", "SUCCESS", "FAILURE"])).state).toBe("PAUSE");
      expect(await h.latest(child.id, "c2")).toBeUndefined();
      expect((await h.latest(id, "sub"))!.state).toBe("PAUSE");

      await h.engine.client.control(id, "resume", h.actor);
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"], 20_000)).state).toBe("SUCCESS");
      expect((await h.store.instances.get(child.id))!.state).toBe("SUCCESS");
      expect((await h.latest(child.id, "c2"))!.state).toBe("SUCCESS");
      // The same child went on: no second one.
      expect((await instancesOf(h)).filter((i) => i.parentTaskInstanceId !== null).length).toBe(1);
      expect((await h.latest(id, "after"))!.state).toBe("SUCCESS");
    }, 60_000);

    test("rerun of a paused parent starts a new child; the child paused by the earlier run stays paused", async () => {
      await using h = await harness(dialect);
      await h.save({ name: "child", tasks: [{ name: "c1", type: "shell", script: waitFile("go") }, { name: "c2", type: "noop", deps: ["c1"] }] });
      await h.save({ name: "parent", tasks: [{ name: "sub", type: "sub_workflow", workflow: "child", params: { dir: "${dir}" } }] });
      const id = await h.run("parent", { params: { dir: h.dataDir } });
      const first = await childOf(h, id);
      await h.waitFor("c1 running", async () => (await h.latest(first.id, "c1"))?.state === "RUNNING_EXECUTION");
      await h.engine.client.control(id, "pause", h.actor);
      await h.waitState(first.id, ["READY_PAUSE"]);
      writeGate(h.dataDir, "go", "");
      expect((await h.waitState(id, ["PAUSE", "SUCCESS", "FAILURE"])).state).toBe("PAUSE");

      await h.engine.client.control(id, "rerun", h.actor);
      await h.waitFor("the rerun to end", async () => {
        const i = await h.store.instances.get(id);
        return i && i.runTimes === 2 && ["SUCCESS", "FAILURE"].includes(i.state) ? i : null;
      });
      expect((await h.store.instances.get(id))!.state).toBe("SUCCESS");
      const children = (await instancesOf(h)).filter((i) => i.parentTaskInstanceId !== null);
      expect(children.length).toBe(2);
      expect((await h.store.instances.get(first.id))!.state).toBe("PAUSE");
    }, 60_000);

    test("the child's final OUT params become the sub_workflow task's OUT params, seen downstream", async () => {
      await using h = await harness(dialect);
      await h.save({
        name: "child",
        tasks: [
          { name: "first", type: "shell", script: "echo '#{setValue(result=early)} #{setValue(only=first)}'" },
          { name: "second", type: "shell", deps: ["first"], script: "echo '#{setValue(result=42)}'" },
        ],
      });
      await h.save({ name: "parent", tasks: [{ name: "sub", type: "sub_workflow", workflow: "child" }, { name: "use", type: "shell", deps: ["sub"], script: 'test "${result}/${only}" = 42/first && echo \'#{setValue(seen=${result})}\'' }] });
      const id = await h.run("parent");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      expect((await h.latest(id, "sub"))!.output).toEqual({ result: "42", only: "first" });
      expect((await h.latest(id, "use"))!.output).toEqual({ seen: "42" });
    }, 60_000);

    test("another project: refused without the developer role there (same text as a missing workflow), nothing created; allowed and audited with it", async () => {
      await using h = await harness(dialect);
      const { project } = await foreignProject(h);
      await h.save({ name: "steal", tasks: [{ name: "sub", type: "sub_workflow", project: "beta", workflow: "secret" }] });
      await h.save({ name: "probe", tasks: [{ name: "sub", type: "sub_workflow", project: "beta", workflow: "no-such" }] });
      const refused = async () => {
        const id = await h.run("steal");
        expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("FAILURE");
        return (await h.latest(id, "sub"))!.message!;
      };
      const outsider = await refused();
      expect(outsider).toBe('sub_workflow: workflow "secret" of project "beta" does not exist, or user "alice" may not run it: a sub_workflow target needs the developer role (or higher) in its project');
      const probe = await h.run("probe");
      await h.waitState(probe, ["FAILURE"]);
      expect((await h.latest(probe, "sub"))!.message).toBe(outsider.replace('"secret"', '"no-such"'));
      await h.store.members.add(project.id, h.actor.userId!, "viewer", { userId: null, userName: "system" });
      expect(await refused()).toBe(outsider);
      expect((await instancesOf(h, project.id)).length).toBe(0);

      await h.store.members.setRole(project.id, h.actor.userId!, "developer", { userId: null, userName: "system" });
      const id = await h.run("steal");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const child = await childOf(h, id, "sub", project.id);
      expect(child.executorId).toBe(h.actor.userId);
      const audit = (await h.store.audit.list({ limit: 100, offset: 0, projectId: project.id })).items.find((e) => e.action === "sub_workflow.start")!;
      expect(audit).toMatchObject({ actorName: "alice", objectId: String(child.id), details: { parentWorkflowInstanceId: id, crossProject: true } });
    }, 60_000);

    test("a scheduled run reaches another project with its schedule's creator's rights", async () => {
      await using h = await harness(dialect);
      const { project } = await foreignProject(h);
      await h.save({ name: "steal", tasks: [{ name: "sub", type: "sub_workflow", project: "beta", workflow: "secret" }] });
      const wf = (await h.store.workflows.get(h.projectId, "steal"))!;
      const schedule = await h.store.schedules.create(h.projectId, wf.id, { cron: "0 0 0 1 1 ?" }, h.actor);
      let fire = 0;
      const scheduled = async () => {
        const i = await h.store.instances.create({ workflowId: wf.id, slot: 0, runType: "SCHEDULER", scheduleId: schedule.id, scheduleTime: new Date(Date.UTC(2030, 0, 1 + fire++)) });
        expect(i.executorId).toBeNull();
        await h.engine.master.load(i.id, "start");
        return (await h.waitState(i.id, ["SUCCESS", "FAILURE"])).id;
      };
      const refused = await scheduled();
      expect((await h.latest(refused, "sub"))!.message).toContain('user "alice" may not run it');
      await h.store.members.add(project.id, h.actor.userId!, "developer", { userId: null, userName: "system" });
      const allowed = await scheduled();
      expect((await h.store.instances.get(allowed))!.state).toBe("SUCCESS");
      expect((await childOf(h, allowed, "sub", project.id)).executorId).toBe(h.actor.userId);
    }, 60_000);

    test("a rerun acts for the user who issued it", async () => {
      await using h = await harness(dialect);
      const { bob } = await foreignProject(h);
      await h.save({ name: "steal", tasks: [{ name: "sub", type: "sub_workflow", project: "beta", workflow: "secret" }] });
      const id = await h.run("steal");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("FAILURE");
      expect((await h.store.instances.get(id))!.executorId).toBe(h.actor.userId);
      await h.engine.client.control(id, "rerun", { userId: bob.id, userName: bob.name });
      const rerun = await h.waitFor("the rerun to end", async () => {
        const i = await h.store.instances.get(id);
        return i && i.runTimes === 2 && ["SUCCESS", "FAILURE"].includes(i.state) ? i : null;
      });
      expect(rerun).toMatchObject({ state: "SUCCESS", executorId: bob.id });
    }, 60_000);

    test("dependent on another project: fails at once without the viewer role there (not a hang); reads its results with it", async () => {
      await using h = await harness(dialect);
      const { project, actor } = await foreignProject(h);
      const wf = (await h.store.workflows.get(project.id, "secret"))!;
      const upstream = await h.store.instances.create({ workflowId: wf.id, slot: 0, runType: "START_PROCESS", executorId: actor.userId });
      await h.store.instances.transition(upstream.id, { from: ["SUBMITTED_SUCCESS"], to: "SUCCESS", epoch: 0 });
      await h.save({ name: "peek", tasks: [{ name: "wait", type: "dependent", checkInterval: 1, dependOn: [{ project: "beta", workflow: "secret", cycle: "day", dateValue: "today" }] }] });
      const refused = await h.run("peek");
      expect((await h.waitState(refused, ["SUCCESS", "FAILURE"])).state).toBe("FAILURE");
      expect((await h.latest(refused, "wait"))!.message).toBe('dependent: workflow "secret" of project "beta" does not exist, or user "alice" may not see it: a dependent target needs the viewer role (or higher) in its project');
      await h.store.members.add(project.id, h.actor.userId!, "viewer", actor);
      const allowed = await h.run("peek");
      expect((await h.waitState(allowed, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
    }, 60_000);
  });
}
