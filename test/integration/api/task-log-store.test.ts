// An api node that runs no engine serves a task's log that exists only in the Store: a cluster
// worker shipped it (src/worker/log-shipper.ts) and its machine, with the file, is gone
// (docs/architecture.md §6). Pages, and the SSE follow from before the first byte until the
// attempt ends. The attempt row names a log path that does not exist on this machine.

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readSse, type SseEvent } from "../../../src/cli/client-sse.ts";
import { silentLogger } from "../../../src/core/log.ts";
import type { Store, TaskInstanceState } from "../../../src/store/store.ts";
import { startLogShipping } from "../../../src/worker/log-shipper.ts";
import { openTaskLog } from "../../../src/worker/task-log.ts";
import { dialects } from "../../helpers/stores.ts";
import { tempDir } from "../worker/worker-helpers.ts";
import { apiHarness, seedInstance, twoTaskWorkflow, type Harness } from "./harness.ts";

const ELSEWHERE = "/nonexistent/worker-machine/logs/1/1-1.log";

async function setup(h: Harness) {
  await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } });
  await h.call("POST", "/api/v1/projects/analytics/workflows", { body: twoTaskWorkflow("etl") });
  const projectId = (await h.call("GET", "/api/v1/projects/analytics")).json.id as number;
  const seeded = await seedInstance(h.store, projectId, "etl", { task: "extract", state: "RUNNING_EXECUTION", logPath: ELSEWHERE });
  return seeded.taskInstanceId;
}

async function endAttempt(store: Store, id: number, to: TaskInstanceState) {
  const [out] = await store.taskInstances.applyBatch([
    { op: "update", id, attempt: 1, token: "seed-token", from: ["RUNNING_EXECUTION"], to, set: { endTime: new Date() } },
  ]);
  expect(out!.outcome).toBe("applied");
}

async function readUntil(events: AsyncIterator<SseEvent>, until: (e: SseEvent) => boolean): Promise<SseEvent[]> {
  const seen: SseEvent[] = [];
  for (;;) {
    const next = await events.next();
    if (next.done) throw new Error(`stream ended before the awaited event; got ${JSON.stringify(seen)}`);
    seen.push(next.value);
    if (until(next.value)) return seen;
  }
}

describe.each(dialects)("API task log from the Store on %s (no engine, no file)", (dialect) => {
  test("pages come from the shipped chunks after the worker's file is gone", async () => {
    await using h = await apiHarness(dialect);
    using workerMachine = tempDir("worker-machine");
    const id = await setup(h);
    const path = join(workerMachine.path, "1-1.log");
    const shipper = startLogShipping({ store: h.store, taskInstanceId: id, path, log: silentLogger, intervalMs: 20 });
    const writer = openTaskLog(path);
    for (let i = 0; i < 3000; i++) writer.write("out", `line ${i} ${"ü".repeat(200)}`);
    writer.close();
    await shipper.finish();
    const file = readFileSync(path, "utf8");
    expect(Buffer.byteLength(file)).toBeGreaterThan(1024 * 1024);
    rmSync(workerMachine.path, { recursive: true, force: true }); // the worker's machine is lost
    expect(existsSync(ELSEWHERE)).toBe(false);

    const url = `/api/v1/task-instances/${id}/log`;
    let text = "";
    let offset = 0;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(100);
      const page = (await h.call("GET", `${url}?offset=${offset}&limit=100000`)).json;
      expect(page.size).toBe(Buffer.byteLength(file));
      if (page.nextOffset === offset) break;
      expect(page.text.endsWith("\n")).toBe(true);
      text += page.text;
      offset = page.nextOffset;
    }
    expect(text).toBe(file);
    await endAttempt(h.store, id, "SUCCESS");
    expect((await h.call("GET", `${url}?offset=${offset}`)).json).toMatchObject({ text: "", ended: true, nextOffset: offset });
  });

  test("follow starts before the first byte is shipped, streams what arrives, and ends when the attempt ends", async () => {
    await using h = await apiHarness(dialect);
    using workerMachine = tempDir("worker-machine");
    const id = await setup(h);
    const res = await h.app.request(`/api/v1/task-instances/${id}/log?follow=1`, { headers: { authorization: `Bearer ${h.adminToken}` } });
    expect(res.status).toBe(200);
    const events = readSse(res.body!)[Symbol.asyncIterator]();

    const path = join(workerMachine.path, "1-1.log");
    const shipper = startLogShipping({ store: h.store, taskInstanceId: id, path, log: silentLogger, intervalMs: 20 });
    const writer = openTaskLog(path);
    writer.write("out", "first shipped line");
    writer.flush();
    await readUntil(events, (e) => e.data.includes("first shipped line"));

    writer.write("err", "second line");
    writer.write("out", "last words");
    writer.close();
    await shipper.finish();
    rmSync(workerMachine.path, { recursive: true, force: true });
    await endAttempt(h.store, id, "FAILURE");
    const rest = await readUntil(events, (e) => e.event === "end");
    const lines = rest.filter((e) => e.event === "message").flatMap((e) => e.data.split("\n"));
    expect(lines.some((l) => l.endsWith("[err] second line"))).toBe(true);
    expect(lines.some((l) => l.endsWith("last words"))).toBe(true);
    const end = JSON.parse(rest.at(-1)!.data);
    expect(end).toEqual({ nextOffset: await h.store.logChunks.size(id), ended: true });
    expect((await events.next()).done).toBe(true);
  });
});
