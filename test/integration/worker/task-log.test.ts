import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ValidationError } from "../../../src/core/errors.ts";
import { followLog, readLog } from "../../../src/logs/file-logs.ts";
import { openTaskLog, openTaskLogAsync, taskLogPath } from "../../../src/worker/task-log.ts";
import { tempDir, waitFor } from "./worker-helpers.ts";

const dir = tempDir("task-log");
afterAll(() => dir[Symbol.dispose]());
let n = 0;
const freshPath = () => taskLogPath(join(dir.path, "logs"), 7, ++n, 1);

describe("task log writer", () => {
  test("lines carry a time and a stream marker; inner newlines become lines; the directory is created", () => {
    const path = freshPath();
    expect(path).toEndWith(`/logs/7/${n}-1.log`);
    const log = openTaskLog(path, { now: () => new Date("2025-05-01T10:00:00.000Z") });
    log.write("out", "hello");
    log.write("err", "oops");
    log.write("sys", "two\nlines");
    log.close();
    log.write("out", "after close is ignored");
    expect(readFileSync(path, "utf8")).toBe(
      [
        "2025-05-01T10:00:00.000Z [out] hello",
        "2025-05-01T10:00:00.000Z [err] oops",
        "2025-05-01T10:00:00.000Z [sys] two",
        "2025-05-01T10:00:00.000Z [sys] lines",
        "",
      ].join("\n"),
    );
  });

  test("the cap writes one truncation line and drops the rest; the file stays near the cap", () => {
    const path = freshPath();
    const log = openTaskLog(path, { maxBytes: 2000 });
    for (let i = 0; i < 500; i++) log.write("out", `line ${i} ${"x".repeat(20)}`);
    expect(log.truncated).toBe(true);
    log.close();
    const text = readFileSync(path, "utf8");
    const lines = text.trimEnd().split("\n");
    expect(lines.filter((l) => l.includes("[sys] log truncated")).length).toBe(1);
    expect(lines.at(-1)).toContain("reached its cap of 2000 bytes");
    expect(lines[0]).toContain("line 0 ");
    expect(text).not.toContain("line 499 ");
    expect(statSync(path).size).toBeLessThan(2000 + 300);
  });

  test("reopening continues the file (a retry of the same attempt after a restart)", () => {
    const path = freshPath();
    const first = openTaskLog(path);
    first.write("out", "one");
    first.close();
    const second = openTaskLog(path);
    expect(second.bytes).toBe(statSync(path).size);
    second.write("out", "two");
    second.close();
    expect(readFileSync(path, "utf8")).toMatch(/\[out\] one\n.*\[out\] two\n$/);
  });

  test("openTaskLogAsync creates the directory, and a reopen continues the file with its size", async () => {
    const path = taskLogPath(join(dir.path, "logs-async"), 8, 1, 1);
    const first = await openTaskLogAsync(path);
    expect(first.bytes).toBe(0);
    first.write("out", "one");
    first.close();
    const second = await openTaskLogAsync(path);
    expect(second.bytes).toBe(statSync(path).size);
    expect(second.bytes).toBeGreaterThan(0);
    second.write("out", "two");
    second.close();
    expect(readFileSync(path, "utf8")).toMatch(/^[^\n]*\[out\] one\n[^\n]*\[out\] two\n$/);
    await expect(openTaskLogAsync(join(path, "under-a-file.log"))).rejects.toThrow(/ENOTDIR|not a directory/i);
  });
});

describe("readLog", () => {
  test("pages by byte offset on line boundaries until the end", () => {
    const path = freshPath();
    const log = openTaskLog(path);
    for (let i = 0; i < 100; i++) log.write("out", `line ${i}`);
    log.close();
    const whole = readFileSync(path, "utf8");
    let offset = 0;
    let joined = "";
    let pages = 0;
    for (;;) {
      const page = readLog(path, { offset, limit: 500 });
      if (page.text === "") break;
      expect(page.text.endsWith("\n")).toBe(true);
      expect(Buffer.byteLength(page.text)).toBeLessThanOrEqual(500);
      expect(page.nextOffset).toBe(offset + Buffer.byteLength(page.text));
      joined += page.text;
      offset = page.nextOffset;
      pages++;
    }
    expect(joined).toBe(whole);
    expect(pages).toBeGreaterThan(5);
    expect(readLog(path, { offset }).nextOffset).toBe(offset);
  });

  test("a line longer than the limit comes in pieces, never splitting a UTF-8 character", () => {
    const path = freshPath();
    appendFileSync(path, "é".repeat(1000) + "\n");
    let offset = 0;
    let joined = "";
    for (;;) {
      const page = readLog(path, { offset, limit: 101 });
      if (page.text === "") break;
      expect(page.text).not.toContain("\uFFFD");
      joined += page.text;
      offset = page.nextOffset;
    }
    expect(joined).toBe("é".repeat(1000) + "\n");
  });

  test("an unfinished last line is held back unless partial is asked for", () => {
    const path = freshPath();
    appendFileSync(path, "done\nhalf");
    expect(readLog(path).text).toBe("done\n");
    expect(readLog(path, { offset: 5 }).text).toBe("");
    expect(readLog(path, { offset: 5, partial: true }).text).toBe("half");
  });

  test("a missing file reads as empty and says so", () => {
    const page = readLog(join(dir.path, "nope.log"), { offset: 0 });
    expect(page).toEqual({ text: "", offset: 0, nextOffset: 0, size: 0, exists: false });
  });

  test("bad offset and limit are refused, naming the field", () => {
    const path = freshPath();
    for (const [opts, field] of [
      [{ offset: -1 }, "offset"],
      [{ offset: 1.5 }, "offset"],
      [{ limit: 0 }, "limit"],
      [{ limit: 10 * 1024 * 1024 }, "limit"],
      [{ offset: "abc" as unknown as number }, "offset"],
    ] as const) {
      try {
        readLog(path, opts);
        throw new Error("no error");
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).details[0]!.path).toBe(field);
      }
    }
    // Query strings come as text.
    expect(readLog(path, { offset: "0" as unknown as number, limit: "10" as unknown as number }).offset).toBe(0);
  });
});

describe("followLog", () => {
  test("yields lines as they are appended and ends with the attempt, unfinished last line included", async () => {
    const path = freshPath();
    const log = openTaskLog(path);
    let ended = false;
    const seen: string[] = [];
    const follower = (async () => {
      for await (const page of followLog(path, new AbortController().signal, () => ended, { pollMs: 20 })) seen.push(page.text);
    })();
    log.write("out", "first");
    await waitFor("first line followed", () => seen.join("").includes("[out] first\n"));
    log.write("out", "second");
    await waitFor("second line followed", () => seen.join("").includes("[out] second\n"));
    log.close();
    appendFileSync(path, "no newline");
    ended = true;
    await follower;
    const all = seen.join("");
    expect(all).toBe(readFileSync(path, "utf8"));
    expect(all.endsWith("no newline")).toBe(true);
  });

  test("waits for a file that does not exist yet, starts from an offset, and stops on abort", async () => {
    const path = freshPath();
    const ac = new AbortController();
    const seen: string[] = [];
    const follower = (async () => {
      for await (const page of followLog(path, ac.signal, () => false, { pollMs: 20, offset: 0 })) seen.push(page.text);
    })();
    appendFileSync(path, "a\n");
    await waitFor("line of a late file", () => seen.join("") === "a\n");
    ac.abort();
    await follower;

    const fromOffset: string[] = [];
    appendFileSync(path, "b\n");
    for await (const page of followLog(path, new AbortController().signal, () => true, { offset: 2 })) fromOffset.push(page.text);
    expect(fromOffset.join("")).toBe("b\n");
  });
});
