// An unusable --data-dir (issue 11 papercut): one line on stderr naming the flag, the path and the
// reason, exit code 2 (bad configuration), no stack trace, nothing started. The tests run as root,
// where permissions do not stop a write, so the paths are made unusable by a file in the way.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, fromSource, run } from "./cli-process.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-data-dir-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const aFile = join(tmp, "a-file");
writeFileSync(aFile, "not a directory\n");

test.each([
  ["a path through a file", join(aFile, "data")],
  ["a file", aFile],
])("porpoise all --data-dir <%s>: one line, exit 2", async (_what, dataDir) => {
  const r = await run(fromSource(["all", "--port", "0", "--data-dir", dataDir]), { cwd: tmp, env: cleanEnv() });
  expect(r.code).toBe(2);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith(`porpoise: --data-dir ${dataDir} cannot be used: `);
  expect(lines[0]).toMatch(/ENOTDIR|EEXIST/);
  expect(lines[0]).toContain("nothing was started");
  expect(r.stderr).not.toContain("    at ");
});
