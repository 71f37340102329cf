// DolphinScheduler parameter semantics end to end on a real engine (master + worker, shell
// tasks as real processes), both dialects: the priority of the layers, built-ins of a manual
// run, $[...] in scripts and in values, the merge of two upstreams' OUT params, typed
// properties, and the resolved params stored on each attempt.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dialects } from "../../helpers/stores.ts";
import { harness } from "./harness.ts";

const pad = (n: number, w = 2) => String(n).padStart(w, "0");
const ymd = (d: Date) => `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
const daysBefore = (d: Date, n: number) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - n));
function monthBefore(d: Date): Date {
  const y = d.getUTCMonth() === 0 ? d.getUTCFullYear() - 1 : d.getUTCFullYear();
  const m = (d.getUTCMonth() + 11) % 12;
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return new Date(Date.UTC(y, m, Math.min(d.getUTCDate(), last)));
}

describe.each(dialects)("params in the engine (%s)", (dialect) => {
  test("priority: startup > task local > upstream OUT > workflow global > project, in the row and in the script", async () => {
    await using h = await harness(dialect);
    await h.store.projects.update(h.projectId, { params: { a: "project", b: "project", c: "project", d: "project", e: "project" } }, h.actor);
    await h.save({
      name: "layers",
      params: { a: "global", b: "global", c: "global", d: "global" },
      tasks: [
        { name: "up", type: "shell", script: "echo '#{setValue(a=upstream)} #{setValue(b=upstream)} #{setValue(c=upstream)}'" },
        { name: "t", type: "shell", deps: ["up"], params: { a: "local", b: "local" }, script: "echo '#{setValue(seen=${a},${b},${c},${d},${e})}'" },
      ],
    });
    const id = await h.run("layers", { params: { a: "startup" } });
    expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
    const t = (await h.latest(id, "t"))!;
    expect(t.params).toMatchObject({ a: "startup", b: "local", c: "upstream", d: "global", e: "project" });
    expect(t.output).toEqual({ seen: "startup,local,upstream,global,project" });
  });

  test("built-ins of a manual run: dates from the start time (UTC), ids and names, the execute path", async () => {
    await using h = await harness(dialect);
    await h.save({
      name: "builtins",
      tasks: [
        {
          name: "show",
          type: "shell",
          params: { out: "${system.task.execute.path}/out.txt" },
          script: [
            "echo '#{setValue(biz=${system.biz.date})} #{setValue(cur=${system.biz.curdate})} #{setValue(wi=${system.workflow.instance.id})}'",
            "echo '#{setValue(tn=${system.task.definition.name})} #{setValue(wn=${system.workflow.definition.name})} #{setValue(pn=${system.project.name})}'",
            "echo '#{setValue(ti=${system.task.instance.id})}'",
            'test -d "${system.task.execute.path}" && [ "$PWD" = "${system.task.execute.path}" ] && echo "#{setValue(path=ok)}"',
            'echo hi > "${out}" && echo "#{setValue(wrote=ok)}"',
          ].join("\n"),
        },
      ],
    });
    const id = await h.run("builtins");
    const instance = await h.waitState(id, ["SUCCESS", "FAILURE"]);
    expect(instance.state).toBe("SUCCESS");
    const start = instance.startTime!;
    const row = (await h.latest(id, "show"))!;
    expect(row.output).toEqual({
      biz: ymd(daysBefore(start, 1)),
      cur: ymd(start),
      wi: String(id),
      tn: "show",
      wn: "builtins",
      pn: "etl",
      ti: String(row.id),
      path: "ok",
      wrote: "ok",
    });
    // Stored: what the master resolved (the worker adds the id and the path of the attempt).
    expect(row.params).toMatchObject({ "system.biz.date": ymd(daysBefore(start, 1)), "system.workflow.instance.id": String(id), "system.project.name": "etl" });
    expect(row.params["system.datetime"]).toMatch(new RegExp(`^${ymd(start)}\\d{6}$`));
  });

  test("$[yyyyMMdd-1] and $[add_months(yyyyMMdd,-1)] in a script and in a param value", async () => {
    await using h = await harness(dialect);
    await h.save({
      name: "times",
      params: { back: "2" },
      tasks: [
        {
          name: "t",
          type: "shell",
          params: { prev: "$[yyyyMMdd-1]", month: "$[add_months(yyyyMMdd,-1)]", far: "$[yyyyMMdd-${back}]" },
          script: "echo '#{setValue(s1=$[yyyyMMdd-1])} #{setValue(s2=$[add_months(yyyyMMdd,-1)])} #{setValue(s3=$[yyyyMMdd-${back}])}'\necho '#{setValue(p1=${prev})} #{setValue(p2=${month})} #{setValue(p3=${far})}'",
        },
      ],
    });
    const id = await h.run("times");
    const instance = await h.waitState(id, ["SUCCESS", "FAILURE"]);
    expect(instance.state).toBe("SUCCESS");
    const start = instance.startTime!;
    const row = (await h.latest(id, "t"))!;
    const prev = ymd(daysBefore(start, 1));
    const month = ymd(monthBefore(start));
    const far = ymd(daysBefore(start, 2));
    expect(row.output).toEqual({ s1: prev, s2: month, s3: far, p1: prev, p2: month, p3: far });
    expect(row.params).toMatchObject({ prev, month, far });
  });

  test("a run with a scheduleTime (scheduled, backfill) bases built-ins and $[...] on it, not on its start", async () => {
    await using h = await harness(dialect);
    await h.save({ name: "nightly", tasks: [{ name: "t", type: "shell", params: { m: "$[add_months(yyyyMMdd,-1)]" }, script: "echo '#{setValue(b=${system.biz.date})} #{setValue(c=${system.biz.curdate})} #{setValue(s=$[yyyy-MM-dd HH:mm:ss])} #{setValue(m=${m})}'" }] });
    const workflow = (await h.store.workflows.get(h.projectId, "nightly"))!;
    const instance = await h.store.instances.create({ workflowId: workflow.id, slot: () => 0, runType: "SCHEDULER", scheduleTime: new Date("2024-03-31T02:30:00Z") });
    await h.engine.master.load(instance.id, "start");
    const done = await h.waitState(instance.id, ["SUCCESS", "FAILURE"]);
    expect(done.state).toBe("SUCCESS");
    expect(done.startTime!.getTime()).toBeGreaterThan(Date.UTC(2025, 0, 1));
    expect((await h.latest(instance.id, "t"))!.output).toEqual({ b: "20240330", c: "20240331", s: "2024-03-31 02:30:00", m: "20240229" });
  });

  test("a scheduled run computes its dates in its schedule's zone, on the worker too", async () => {
    await using h = await harness(dialect);
    await h.save({ name: "tokyo", tasks: [{ name: "t", type: "shell", params: { p: "$[yyyyMMdd]" }, script: "echo '#{setValue(b=${system.biz.date})} #{setValue(s=$[yyyy-MM-dd HH:mm])} #{setValue(p=${p})}'" }] });
    const workflow = (await h.store.workflows.get(h.projectId, "tokyo"))!;
    const schedule = await h.store.schedules.create(h.projectId, workflow.id, { cron: "0 30 1 * * ?", timezone: "Asia/Tokyo", releaseState: "OFFLINE" }, h.actor);
    // 2024-03-31 16:30 UTC is 2024-04-01 01:30 in Tokyo.
    const instance = await h.store.instances.create({ workflowId: workflow.id, slot: () => 0, runType: "SCHEDULER", scheduleId: schedule.id, scheduleTime: new Date("2024-03-31T16:30:00Z") });
    await h.engine.master.load(instance.id, "start");
    expect((await h.waitState(instance.id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
    expect((await h.latest(instance.id, "t"))!.output).toEqual({ b: "20240331", s: "2024-04-01 01:30", p: "20240401" });
  });

  test("a startup system.datetime moves the base of built-ins and of $[...] in the script", async () => {
    await using h = await harness(dialect);
    await h.save({ name: "rerun", tasks: [{ name: "t", type: "shell", script: "echo '#{setValue(d=$[yyyy-MM-dd])} #{setValue(b=${system.biz.date})}'" }] });
    const id = await h.run("rerun", { params: { "system.datetime": "20240301000000", "system.biz.date": "$[yyyyMMdd-1]" } });
    expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
    expect((await h.latest(id, "t"))!.output).toEqual({ d: "2024-03-01", b: "20240229" });
  });

  test("sub_workflow: the child gets the task's params and its own built-ins, on the parent's base time", async () => {
    await using h = await harness(dialect);
    await h.save({
      name: "child",
      tasks: [{ name: "c", type: "shell", script: "echo '#{setValue(v=${v})} #{setValue(wi=${system.workflow.instance.id})} #{setValue(wn=${system.workflow.definition.name})} #{setValue(tn=${system.task.definition.name})} #{setValue(dt=${system.datetime})}'" }],
    });
    await h.save({ name: "parent", tasks: [{ name: "sub", type: "sub_workflow", workflow: "child", params: { v: "from-parent" } }] });
    const id = await h.run("parent", { params: { "system.datetime": "20240301120000" } });
    expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
    const sub = (await h.latest(id, "sub"))!;
    const child = (await h.store.instances.list({ projectId: h.projectId, limit: 50, offset: 0 })).items.find((i) => i.parentTaskInstanceId === sub.id)!;
    expect(child.params).toEqual({ v: "from-parent", "system.datetime": "20240301120000" });
    expect((await h.latest(child.id, "c"))!.output).toEqual({ v: "from-parent", wi: String(child.id), wn: "child", tn: "c", dt: "20240301120000" });
  });

  test("two upstreams set the same OUT name: a non-empty value wins, then the one that finished first", async () => {
    await using h = await harness(dialect);
    const dir = mkdtempSync(join(tmpdir(), "porpoise-params-"));
    try {
      await h.save({
        name: "merge",
        tasks: [
          { name: "first", type: "shell", script: "echo '#{setValue(x=)} #{setValue(y=from-first)}'" },
          // Ends only after the test saw `first` end, so `first` finished first.
          { name: "second", type: "shell", script: `while [ ! -f '${dir}/go' ]; do sleep 0.02; done\necho '#{setValue(x=from-second)} #{setValue(y=from-second)}'` },
          { name: "t", type: "shell", deps: ["second", "first"], script: "echo '#{setValue(got=${x}/${y})}'" },
        ],
      });
      const id = await h.run("merge");
      await h.waitFor("first to end", async () => (await h.latest(id, "first"))?.state === "SUCCESS");
      writeFileSync(join(dir, "go"), "");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      const t = (await h.latest(id, "t"))!;
      expect(t.output).toEqual({ got: "from-second/from-first" });
      expect(t.params).toMatchObject({ x: "from-second", y: "from-first" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("typed properties: a declared OUT value of the wrong type fails the attempt naming it; a right one passes on", async () => {
    await using h = await harness(dialect);
    await h.save({
      name: "typed",
      tasks: [
        { name: "good", type: "shell", localParams: [{ prop: "n", direct: "OUT", type: "INTEGER" }], script: "echo '#{setValue(n=42)}'" },
        { name: "bad", type: "shell", localParams: [{ prop: "when", direct: "OUT", type: "DATE" }], script: "echo '#{setValue(when=tomorrow)}'" },
        { name: "after", type: "shell", deps: ["bad"], script: "echo never" },
        { name: "uses", type: "shell", deps: ["good"], localParams: [{ prop: "k", direct: "IN", type: "INTEGER", value: "${n}" }], script: "echo '#{setValue(k2=${k})}'" },
      ],
    });
    const id = await h.run("typed", { failureStrategy: "CONTINUE" });
    expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("FAILURE");
    const bad = (await h.latest(id, "bad"))!;
    expect(bad.state).toBe("FAILURE");
    expect(bad.message).toContain('OUT param "when" is declared DATE');
    expect(bad.message).toContain("tomorrow");
    expect(await h.latest(id, "after")).toBeUndefined();
    expect((await h.latest(id, "good"))!.state).toBe("SUCCESS");
    const uses = (await h.latest(id, "uses"))!;
    expect(uses.state).toBe("SUCCESS");
    expect(uses.output).toEqual({ k2: "42" });
  });

  test("params that cannot be resolved fail that attempt with the reason; the run goes on and ends FAILURE", async () => {
    await using h = await harness(dialect);
    await h.save({
      name: "unresolvable",
      tasks: [
        { name: "typed-in", type: "shell", localParams: [{ prop: "day", direct: "IN", type: "DATE", value: "${d}" }], script: "echo ${day}" },
        { name: "bad-expr", type: "shell", params: { x: "$[nonsense(yyyy)]" }, script: "echo ${x}" },
        { name: "cycle", type: "shell", retries: 1, retryInterval: 0, params: { p: "${q}", q: "${p}" }, script: "echo ${p}" },
        { name: "fine", type: "shell", script: "echo ok" },
      ],
    });
    const id = await h.run("unresolvable", { params: { d: "not-a-date" }, failureStrategy: "CONTINUE" });
    expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("FAILURE");
    // The reason is written right after the attempt's row (the batch after it), possibly after the run ended.
    await h.waitFor("every reason written", async () => (await h.tasks(id)).filter((t) => t.state === "FAILURE").every((t) => t.message !== null) && (await h.tasks(id)).length === 5);
    const typed = (await h.latest(id, "typed-in"))!;
    expect(typed.state).toBe("FAILURE");
    expect(typed.message).toMatch(/params could not be resolved: param "day" is declared DATE: expected a DATE/);
    expect((await h.latest(id, "bad-expr"))!.message).toMatch(/params could not be resolved: param "x".*nonsense/);
    // Retries apply as to any failure; each attempt fails the same way, with its own row.
    const cycles = (await h.tasks(id)).filter((t) => t.taskName === "cycle");
    expect(cycles.map((t) => [t.attempt, t.state])).toEqual([
      [1, "FAILURE"],
      [2, "FAILURE"],
    ]);
    for (const c of cycles) expect(c.message).toMatch(/params could not be resolved: .*cycle: p → q → p/);
    expect((await h.latest(id, "fine"))!.state).toBe("SUCCESS");
  });
});
