// The ledger helper (test/helpers/ledger.ts) itself: tasks run by a real engine write their rows
// with the built-ins substituted, and the reader finds duplicates and overlaps.
import { expect, test } from "bun:test";
import postgres from "postgres";
import { createLedger } from "../helpers/ledger.ts";
import { harness } from "../integration/engine/harness.ts";

test("tasks write one row each; a second write of a key is a duplicate, and an overlapping one an overlap", async () => {
  await using ledger = await createLedger();
  await using h = await harness("sqlite");
  await h.save({ name: "w", tasks: [{ name: "a", type: "shell", script: ledger.task("sleep 0.1") }, { name: "b", type: "shell", deps: ["a"], script: ledger.task("true") }] });
  const id = await h.run("w");
  expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
  const tasks = await h.tasks(id);
  let report = await ledger.read();
  expect(report.rows.map((r) => [r.idemKey, r.taskInstance])).toEqual([
    [`${id}:a`, tasks.find((t) => t.taskName === "a")!.id],
    [`${id}:b`, tasks.find((t) => t.taskName === "b")!.id],
  ]);
  expect(report.rows[0]!.endedAt.getTime()).toBeGreaterThan(report.rows[0]!.startedAt.getTime());
  expect(report.duplicates).toEqual([]);
  expect(report.overlaps).toEqual([]);

  // A second copy of "a" that ran during the first one.
  const a = report.rows[0]!;
  const sql = postgres(ledger.url, { max: 1 });
  await sql`INSERT INTO ledger (idem_key, task_instance, pid, started_at, ended_at) VALUES (${a.idemKey}, ${a.taskInstance + 100}, 1, ${a.startedAt}, ${a.endedAt})`;
  await sql.end();
  report = await ledger.read();
  expect(report.duplicates).toEqual([{ idemKey: a.idemKey, count: 2 }]);
  expect(report.overlaps.map((o) => o.idemKey)).toEqual([a.idemKey]);
});
