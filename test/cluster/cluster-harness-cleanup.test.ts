// The cluster harness itself: a node that fails to start must not leave the nodes started before
// it, the throwaway redis-server or the temp dir behind (on a loaded machine a start can time out,
// and the leftovers then filled the shared Postgres's connections for the tests after it).

import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { startCluster } from "./cluster-harness.ts";

const processesMentioning = (needle: string): number[] =>
  readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, "utf8").includes(needle);
      } catch {
        return false; // ended meanwhile
      }
    })
    .map(Number);

test("a master that cannot start: the api, the redis-server and the temp dir are gone, and the error says why", async () => {
  const prefix = `porpoise-harness-cleanup-${process.pid}-`;
  const started = startCluster({ prefix, masters: 1, workers: 1, args: { master: ["--no-such-flag"] } });
  await expect(started).rejects.toThrow();
  expect(readdirSync(tmpdir()).filter((d) => d.startsWith(prefix))).toEqual([]);
  expect(processesMentioning(prefix)).toEqual([]);
});
