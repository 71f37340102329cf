// The task-log route over a real log file (written with the worker's openTaskLog): the route reads
// the attempt's row and, with no chunks in the Store, the file it names. Pages on line boundaries, and the SSE
// follow that streams new lines and ends when the attempt ends.

import { describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readSse, type SseEvent } from "../../../src/cli/client-sse.ts";
import { openTaskLog } from "../../../src/worker/task-log.ts";
import type { Store, TaskInstanceState } from "../../../src/store/store.ts";
import { dialects } from "../../helpers/stores.ts";
import { apiHarness, expectError, seedInstance, twoTaskWorkflow, type Harness } from "./harness.ts";

async function setup(h: Harness, opts: { withLog?: boolean } = {}) {
  await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } });
  await h.call("POST", "/api/v1/projects/analytics/workflows", { body: twoTaskWorkflow("etl") });
  const projectId = (await h.call("GET", "/api/v1/projects/analytics")).json.id as number;
  const path = join(h.dataDir, "logs", "1", "1-1.log");
  const seeded = await seedInstance(h.store, projectId, "etl", {
    task: "extract",
    state: opts.withLog === false ? undefined : "RUNNING_EXECUTION",
    logPath: opts.withLog === false ? undefined : path,
  });
  return { path, id: seeded.taskInstanceId };
}

async function setAttempt(store: Store, id: number, from: TaskInstanceState, to: TaskInstanceState, logPath?: string) {
  const [out] = await store.taskInstances.applyBatch([
    { op: "update", id, attempt: 1, token: "seed-token", from: [from], to, set: logPath ? { logPath } : { endTime: new Date() } },
  ]);
  expect(out!.outcome).toBe("applied");
}

/** Opens the follow stream and returns an event iterator over it. */
async function follow(h: Harness, id: number, query = "", headers: Record<string, string> = {}) {
  const res = await h.app.request(`/api/v1/task-instances/${id}/log?follow=1${query}`, {
    headers: { authorization: `Bearer ${h.adminToken}`, ...headers },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  return readSse(res.body!)[Symbol.asyncIterator]();
}

/** Reads events until one satisfies `until`; returns all read. */
async function readUntil(events: AsyncIterator<SseEvent>, until: (e: SseEvent) => boolean): Promise<SseEvent[]> {
  const seen: SseEvent[] = [];
  for (;;) {
    const next = await events.next();
    if (next.done) throw new Error(`stream ended before the awaited event; got ${JSON.stringify(seen)}`);
    seen.push(next.value);
    if (until(next.value)) return seen;
  }
}

describe.each(dialects)("API task log on %s", (dialect) => {
  test("pages end on line boundaries, read on from nextOffset, and show the unfinished last line only once the attempt ended", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    const { path, id } = await setup(h);
    const url = `/api/v1/task-instances/${id}/log`;
    const log = openTaskLog(path);
    for (let i = 0; i < 50; i++) log.write(i % 2 ? "err" : "out", `line ${i} ünïcødé`);
    log.flush();
    appendFileSync(path, "unfinished");
    const file = readFileSync(path, "utf8");
    const complete = file.slice(0, file.lastIndexOf("\n") + 1);

    const first = await h.call("GET", url);
    expect(first.json).toMatchObject({ offset: 0, ended: false, size: Buffer.byteLength(file), text: complete });

    let text = "";
    let offset = 0;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(200);
      const page = (await h.call("GET", `${url}?offset=${offset}&limit=100`)).json;
      if (page.nextOffset === offset) break;
      expect(page.text.endsWith("\n")).toBe(true);
      expect(page.offset).toBe(offset);
      text += page.text;
      offset = page.nextOffset;
    }
    expect(text).toBe(complete);

    await setAttempt(h.store, id, "RUNNING_EXECUTION", "SUCCESS");
    const last = (await h.call("GET", `${url}?offset=${offset}`)).json;
    expect(last).toMatchObject({ text: "unfinished", ended: true, nextOffset: Buffer.byteLength(file) });
    expect((await h.call("GET", `${url}?offset=999999`)).json).toMatchObject({ text: "", nextOffset: 999999, ended: true });
    expectError(await h.call("GET", `${url}?limit=2000000`), 400, "VALIDATION_FAILED", /limit/);
  });

  test("follow streams new lines as events and ends when the attempt ends; Last-Event-ID continues", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    const { path, id } = await setup(h);
    const log = openTaskLog(path);
    log.write("out", "before follow");
    log.flush();

    const events = await follow(h, id);
    const early = await readUntil(events, (e) => e.data.includes("before follow"));
    expect(early.at(-1)!.event).toBe("message");

    log.write("out", "while following 1");
    log.write("err", "while following 2");
    log.flush();
    const later = await readUntil(events, (e) => e.data.includes("while following 2"));
    const lines = later.flatMap((e) => e.data.split("\n"));
    expect(lines.some((l) => l.endsWith("[out] while following 1"))).toBe(true);

    log.write("out", "last words");
    log.close();
    await setAttempt(h.store, id, "RUNNING_EXECUTION", "SUCCESS");
    const rest = await readUntil(events, (e) => e.event === "end");
    expect(rest.flatMap((e) => e.data.split("\n")).some((l) => l.endsWith("last words"))).toBe(true);
    const end = JSON.parse(rest.at(-1)!.data);
    const size = readFileSync(path).byteLength;
    expect(end).toEqual({ nextOffset: size, ended: true });
    expect((await events.next()).done).toBe(true);

    // Reconnecting with the offset of an earlier event gets only what came after it.
    const firstLineEnd = readFileSync(path, "utf8").indexOf("\n") + 1;
    const resumed = await follow(h, id, "", { "last-event-id": String(firstLineEnd) });
    const all = await readUntil(resumed, (e) => e.event === "end");
    const resumedText = all.filter((e) => e.event === "message").map((e) => e.data).join("\n");
    expect(resumedText).not.toContain("before follow");
    expect(resumedText).toContain("last words");
    const bad = await h.app.request(`/api/v1/task-instances/${id}/log?follow=1`, {
      headers: { authorization: `Bearer ${h.adminToken}`, "last-event-id": "abc" },
    });
    expect(bad.status).toBe(400);
  });

  test("follow waits for an attempt that has no log yet, then streams it", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    const { path, id } = await setup(h, { withLog: false });
    expect((await h.call("GET", `/api/v1/task-instances/${id}/log`)).json).toEqual({ text: "", offset: 0, nextOffset: 0, size: 0, ended: false });
    const events = await follow(h, id);
    const log = openTaskLog(path);
    log.write("sys", "started late");
    log.close();
    await setAttempt(h.store, id, "DISPATCH", "RUNNING_EXECUTION", path);
    await readUntil(events, (e) => e.data.includes("started late"));
    await setAttempt(h.store, id, "RUNNING_EXECUTION", "FAILURE");
    const rest = await readUntil(events, (e) => e.event === "end");
    expect(JSON.parse(rest.at(-1)!.data)).toMatchObject({ ended: true });
  });

  test("an attempt that ended without a log ends the follow at once", async () => {
    await using h = await apiHarness(dialect, { engine: "client" });
    const { id } = await setup(h, { withLog: false });
    await setAttempt(h.store, id, "DISPATCH", "KILL");
    const events = await follow(h, id, "&offset=5");
    const all = await readUntil(events, (e) => e.event === "end");
    expect(all.map((e) => e.event)).toEqual(["end"]);
    expect(JSON.parse(all[0]!.data)).toEqual({ nextOffset: 5, ended: true });
  });
});
