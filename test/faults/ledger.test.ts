// The ledger helper (test/helpers/ledger.ts) itself: tasks run by a real engine write their lines
// with the built-ins substituted; the reader tells a duplicate from an overlap; concurrent
// writers never interleave a line; a line being written is not counted and a broken one throws.
import { expect, test } from "bun:test";
import { appendFileSync, existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { createLedger } from "../helpers/ledger.ts";
import { harness } from "../integration/engine/harness.ts";

/** A task's script as porpoise runs it: the built-ins the ledger uses substituted (src/worker/substitute.ts). */
function asRun(script: string, instance: number, task: string, taskInstance: number): string {
  return script
    .replaceAll("${system.workflow.instance.id}", String(instance))
    .replaceAll("${system.task.definition.name}", task)
    .replaceAll("${system.task.instance.id}", String(taskInstance));
}

/** Runs scripts with bash, all at once; each must exit 0. */
async function runAtOnce(...scripts: string[]): Promise<void> {
  const procs = scripts.map((s) => Bun.spawn(["bash", "-c", s], { stdout: "ignore", stderr: "pipe" }));
  for (const p of procs) {
    const code = await p.exited;
    expect(`${code} ${await new Response(p.stderr).text()}`).toBe("0 ");
  }
}

test("tasks run by the engine write one line each, with the built-ins substituted; the dir goes with the ledger", async () => {
  let dir: string;
  {
    await using ledger = await createLedger();
    dir = dirname(ledger.path);
    // Task processes may run as another user: they must reach the dir and append to the file.
    expect(statSync(dir).mode & 0o777).toBe(0o711);
    expect(statSync(ledger.path).mode & 0o777).toBe(0o666);
    await using h = await harness("sqlite");
    await h.save({ name: "w", tasks: [{ name: "a", type: "shell", script: ledger.task("sleep 0.1") }, { name: "b", type: "shell", deps: ["a"], script: ledger.task("true") }] });
    const id = await h.run("w");
    expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
    const tasks = await h.tasks(id);
    const report = await ledger.read();
    expect(report.rows.map((r) => [r.idemKey, r.taskInstance])).toEqual([
      [`${id}:a`, tasks.find((t) => t.taskName === "a")!.id],
      [`${id}:b`, tasks.find((t) => t.taskName === "b")!.id],
    ]);
    const a = report.rows[0]!;
    expect(a.pid).toBeGreaterThan(0);
    // sleep 0.1 ran between the two times; the task started after the test did.
    expect(a.endedAt.getTime() - a.startedAt.getTime()).toBeGreaterThanOrEqual(99);
    expect(Math.abs(a.startedAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(report.rows[1]!.startedAt.getTime()).toBeGreaterThanOrEqual(a.endedAt.getTime());
    expect(report.duplicates).toEqual([]);
    expect(report.overlaps).toEqual([]);
    expect(ledger.count()).toBe(2);
  }
  expect(existsSync(dir)).toBe(false);
});

test("two executions of a key at once are a duplicate and an overlap; one after the other only a duplicate", async () => {
  await using ledger = await createLedger();
  const slow = ledger.task("sleep 1");
  const quick = ledger.task("true");
  // 7:x twice at once, 7:y twice one after the other, 7:z once.
  await runAtOnce(asRun(slow, 7, "x", 1), asRun(slow, 7, "x", 2), asRun(quick, 7, "z", 5));
  await runAtOnce(asRun(quick, 7, "y", 3));
  await runAtOnce(asRun(quick, 7, "y", 4));
  const report = ledger.read();
  expect(report.rows.map((r) => r.idemKey)).toEqual(["7:x", "7:x", "7:y", "7:y", "7:z"]);
  expect(report.duplicates).toEqual([
    { idemKey: "7:x", count: 2 },
    { idemKey: "7:y", count: 2 },
  ]);
  expect(report.overlaps.map((o) => [o.idemKey, [o.a.taskInstance, o.b.taskInstance].sort()])).toEqual([["7:x", [1, 2]]]);
  const { ms, a, b } = report.overlaps[0]!;
  expect(ms).toBeGreaterThan(0);
  expect(ms).toBeLessThanOrEqual(Math.min(a.endedAt.getTime() - a.startedAt.getTime(), b.endedAt.getTime() - b.startedAt.getTime()) + 1);
});

test("32 tasks appending at once: every line whole, none lost", async () => {
  await using ledger = await createLedger();
  const script = ledger.task(":");
  const WRITERS = 32;
  const EACH = 25;
  // Each writer one bash running 25 task scripts in a row, all writers at once.
  await runAtOnce(...Array.from({ length: WRITERS }, (_, w) => Array.from({ length: EACH }, (_, i) => asRun(script, w, `t${i}`, w * EACH + i)).join("\n")));
  expect(ledger.count()).toBe(WRITERS * EACH);
  const report = ledger.read(); // throws on a line two writes made together
  expect(report.rows.length).toBe(WRITERS * EACH);
  expect(new Set(report.rows.map((r) => r.taskInstance)).size).toBe(WRITERS * EACH);
  expect(report.duplicates).toEqual([]);
});

test("a line still being written is not counted; a broken line throws; a decimal comma reads", async () => {
  await using ledger = await createLedger();
  appendFileSync(ledger.path, "7:x 1 100 1700000000.000000 1700000001.000000\n7:x 2 101 1700000000.5");
  expect(ledger.count()).toBe(1);
  expect(ledger.read().rows.length).toBe(1);
  appendFileSync(ledger.path, "00000 1700000000.900000\n7:y 3 102 1700000002,000000 1700000003,250000\n");
  const report = ledger.read();
  expect(report.rows.map((r) => [r.idemKey, r.taskInstance, r.endedAt.getTime() - r.startedAt.getTime()])).toEqual([
    ["7:x", 1, 1000],
    ["7:x", 2, 400],
    ["7:y", 3, 1250],
  ]);
  expect(report.overlaps.map((o) => [o.idemKey, o.ms])).toEqual([["7:x", 400]]);
  appendFileSync(ledger.path, "7:z 4 1037:z 5 104 1700000004.000000 1700000005.000000\n");
  expect(() => ledger.read()).toThrow(/not one effect/);
});
