// An unusable --data-dir (issue 11 papercut): one line on stderr naming the flag, the path and the
// reason, exit code 2 (bad configuration), no stack trace, nothing started. And the commands that
// configuration errors suggest are ones that work from a checkout (npx porpoise). The tests run as root,
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

test("the hints in configuration errors name the command that works from a checkout", async () => {
  const r = await run(fromSource(["al"]), { cwd: tmp, env: cleanEnv() });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('Run "npx porpoise --help" for details.');
  const flag = await run(fromSource(["all", "--prot", "1"]), { cwd: tmp, env: cleanEnv() });
  expect(flag.stderr).toContain('(run "npx porpoise all --help" for details)');
});
