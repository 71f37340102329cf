// The edge worker's spool counts what it still owes the gateway by type (its /metrics:
// porpoise_edge_spool_items): items added, items the gateway took, and after a restart the items
// read back from disk — a corrupt file is set aside, not counted. Real files in a temporary dir.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Spool } from "../../../src/worker/edge/spool.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "porpoise-spool-"));
  dirs.push(d);
  return d;
};

const ref = { taskInstanceId: 7, workflowInstanceId: 3, slot: 0, epoch: 1, attempt: 1, token: "a".repeat(32) };
const done = { ...ref, kind: "done" as const, state: "SUCCESS" as const, exitCode: 0, output: {}, message: null, endTime: new Date(0).toISOString() };
const log = (seq: number) => ({ type: "log" as const, attempt: ref, seq, byteOffset: (seq - 1) * 3, data: Buffer.from("hi\n").toString("base64") });

test("the spool counts its items by type as they are added, taken, and read back after a restart", () => {
  const dir = tmp();
  const spool = new Spool(dir);
  expect(spool.waiting).toEqual({ event: 0, log: 0 });
  spool.add(log(1));
  spool.add(log(2));
  spool.add({ type: "event", event: done });
  expect(spool.waiting).toEqual({ event: 1, log: 2 });
  expect(spool.size).toBe(3);
  spool.done(1);
  expect(spool.waiting).toEqual({ event: 1, log: 1 });

  // A restart reads the rest back; a corrupt file is set aside and not counted.
  writeFileSync(join(dir, `${"9".repeat(16)}.json`), "{not json");
  const again = new Spool(dir);
  expect(again.waiting).toEqual({ event: 1, log: 1 });
  expect(again.unreadable).toBe(1);
  expect(readdirSync(dir).filter((n) => n.endsWith(".unreadable"))).toHaveLength(1);
  again.done(2);
  expect(again.waiting).toEqual({ event: 0, log: 0 });
  expect(readdirSync(dir).filter((n) => n.endsWith(".json"))).toEqual([]);
});

test("an item that is not a spool item is refused naming the field, and nothing is counted or written", () => {
  const dir = tmp();
  const spool = new Spool(dir);
  expect(() => spool.add({ ...log(0) })).toThrow(/seq/);
  expect(spool.waiting).toEqual({ event: 0, log: 0 });
  expect(readdirSync(dir)).toEqual([]);
  expect(new Spool(dir).unreadable).toBe(0);
});
