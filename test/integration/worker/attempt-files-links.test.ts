// The supervisor's files live in the attempt dir, which belongs to the task's user: a link or a
// FIFO put there must neither leak what it points to nor block porpoise (attempt-files.ts).

import { expect, test } from "bun:test";
import { symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readExitStatus, readSupervisor } from "../../../src/worker/attempt-files.ts";
import { tempDir } from "./worker-helpers.ts";

test("a link or a FIFO in place of .porpoise.exit / .porpoise.pid reads as not written", () => {
  using dir = tempDir("attempt-links");
  const secret = join(dir.path, "secret");
  writeFileSync(secret, "7\n");
  writeFileSync(join(dir.path, "real.exit"), "3\n");
  symlinkSync(secret, join(dir.path, "link.exit"));
  expect(Bun.spawnSync(["mkfifo", join(dir.path, "fifo.exit")]).exitCode).toBe(0);
  expect(readExitStatus(join(dir.path, "real.exit"))).toBe(3);
  expect(readExitStatus(join(dir.path, "link.exit"))).toBeNull();
  expect(readExitStatus(join(dir.path, "fifo.exit"))).toBeNull();
  writeFileSync(secret, "123 456\n");
  symlinkSync(secret, join(dir.path, "link.pid"));
  expect(readSupervisor(join(dir.path, "link.pid"))).toBeNull();
});
