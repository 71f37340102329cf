// The snapshots a master keeps of the instances it drives (src/cache/instance-snapshots.ts) are
// what the api serves for running instances in a cluster, so they must be the Store's rows: built
// from the rows read at load and the ops of each group commit. Checked here against the real
// Store on both dialects at the quiet points of a run that goes through inserts, updates,
// decisions, a retry, a WARN timeout and the end; the versions: an older writer never hides
// a newer one's snapshot; and the watch: only instances the api reads are written, and a watch
// that ran out leaves the idle marker, never a stale snapshot.

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { InstanceSnapshotWriter } from "../../../src/cache/instance-snapshot-writer.ts";
import { IDLE_MARKER, InstanceSnapshotReader, READ_STORE, type InstanceSnapshot } from "../../../src/cache/instance-snapshots.ts";
import { MemoryCache } from "../../../src/cache/memory-cache.ts";
import { silentLogger } from "../../../src/core/log.ts";
import type { Store, TaskInstance } from "../../../src/store/store.ts";
import { dialects } from "../../helpers/stores.ts";
import { harness, writeGate } from "./harness.ts";

/** Rows without the times the Store stamps itself (the mirror's are the commit's, a moment later) and the tokens it does not keep. */
function comparable(instance: InstanceSnapshot["instance"], tasks: readonly TaskInstance[]) {
  const { createdAt: _c, updatedAt: _u, ...wi } = instance;
  return {
    instance: wi,
    tasks: tasks.map(({ createdAt: _tc, updatedAt: _tu, dispatchToken: _t, ...t }) => t),
  };
}

async function fromStore(store: Store, id: number) {
  const instance = await store.instances.get(id);
  return comparable(instance!, await store.taskInstances.listForInstance(id));
}

function writerOn(cache: MemoryCache, driven: (id: number) => boolean = () => true) {
  return new InstanceSnapshotWriter({ cache, log: silentLogger, driven });
}

for (const dialect of dialects) {
  describe(`instance snapshots (${dialect})`, () => {
    test("a running instance's snapshot is the Store's rows at every quiet point; once it ends, reads go to the Store", async () => {
      const cache = new MemoryCache();
      let drives: (id: number) => boolean = () => true;
      const writer = writerOn(cache, (id) => drives(id));
      await using h = await harness(dialect, { snapshots: writer });
      drives = (id) => h.engine.master.drives(id);
      // The api's asks reach the writer as the master's subscription hands them on (modes/master.ts).
      const reader = new InstanceSnapshotReader(cache, silentLogger, async (wanted) => writer.want(wanted));
      const gate = (name: string) => `while [ ! -f '${join(h.dataDir, name)}' ]; do sleep 0.05; done`;
      await h.save({
        name: "mirrored",
        tasks: [
          { name: "a", type: "shell", script: "echo '${setValue(out=7)}'" },
          { name: "pick", type: "switch", deps: ["a"], cases: [{ when: 'x == "go"', next: "yes" }], default: "no" },
          { name: "yes", type: "noop", deps: ["pick"] },
          { name: "no", type: "noop", deps: ["pick"] },
          { name: "flaky", type: "shell", retries: 1, retryInterval: 0, script: `[ -f '${join(h.dataDir, "flaky-once")}' ] || { touch '${join(h.dataDir, "flaky-once")}'; exit 3; }` },
          { name: "held", type: "shell", deps: ["yes", "flaky"], timeout: 1, timeoutStrategy: "WARN", script: `${gate("first")}; echo first` },
          { name: "last", type: "shell", deps: ["held"], script: `${gate("second")}; echo second` },
        ],
      });
      const id = await h.run("mirrored", { params: { x: "go" } });

      // Quiet point 1: everything before `held` ended, `held` runs and has its WARN timeout recorded.
      await h.waitFor("held running with its warning", async () => {
        const held = await h.latest(id, "held");
        return held?.state === "RUNNING_EXECUTION" && held.warning !== null;
      });
      const first = await fromStore(h.store, id);
      expect(first.tasks.map((t) => `${t.taskName}#${t.attempt}:${t.state}`)).toEqual([
        "a#1:SUCCESS",
        "flaky#1:FAILURE",
        "flaky#2:SUCCESS",
        "held#1:RUNNING_EXECUTION",
        "pick#1:SUCCESS",
        "yes#1:SUCCESS",
      ]);
      const snapshotMatches = async (expected: ReturnType<typeof comparable>) => {
        const snap = await reader.read(id);
        return snap !== null && Bun.deepEquals(comparable(snap.instance, snap.tasks), expected);
      };
      await h.waitFor("the snapshot to match the Store", async () => (await snapshotMatches(first)) || null, 5_000).catch(() => null);
      const snap1 = (await reader.read(id))!;
      expect(comparable(snap1.instance, snap1.tasks)).toEqual(first);
      expect(snap1.taskCount).toBe(7);

      // Quiet point 2: `held` ended, `last` runs (a new attempt inserted after the warning).
      writeGate(h.dataDir, "first", "1");
      await h.waitFor("last running", async () => (await h.latest(id, "last"))?.state === "RUNNING_EXECUTION");
      const second = await fromStore(h.store, id);
      await h.waitFor("the snapshot to match the Store", async () => (await snapshotMatches(second)) || null, 5_000).catch(() => null);
      const snap2 = (await reader.read(id))!;
      expect(comparable(snap2.instance, snap2.tasks)).toEqual(second);

      // The end: the snapshot gives way to the Store.
      writeGate(h.dataDir, "second", "1");
      expect((await h.waitState(id, ["SUCCESS", "FAILURE"])).state).toBe("SUCCESS");
      await h.waitFor("reads to go to the Store", async () => (await reader.read(id)) === null);
      expect(JSON.parse((await cache.getVersioned(`instance:${id}`))!.value)).toEqual({ format: 1, live: false });
    });

    test("versions: a write of an older epoch never hides the snapshot of a newer one, whatever the order", async () => {
      const cache = new MemoryCache();
      await using h = await harness(dialect);
      await h.save({ name: "plain", tasks: [{ name: "t", type: "noop" }] });
      const id = await h.run("plain");
      const ended = await h.waitState(id, ["SUCCESS"]);
      const rows = await h.tasks(id);
      const running = { ...ended, state: "RUNNING_EXECUTION" as const };
      const reader = new InstanceSnapshotReader(cache, silentLogger);
      const older = writerOn(cache);
      const newer = writerOn(cache);
      const written = (w: InstanceSnapshotWriter, n: number) => h.waitFor(`${n} writes`, async () => w.writes >= n && (await cache.getVersioned(`instance:${id}`)) !== null);

      newer.track(running, "plain", rows, 1, 8);
      newer.want(id);
      newer.noted(id, "from the master of epoch 8");
      await written(newer, 1);
      older.track(running, "plain", rows, 1, 7);
      older.want(id);
      older.noted(id, "from the master of epoch 7, late");
      await written(older, 1);
      // The older write came after the newer one and was refused (the memory cache applies a write as it is sent).
      expect((await reader.read(id))!.instance.message).toBe("from the master of epoch 8");
      newer.noted(id, "epoch 8, again");
      await h.waitFor("the newer master's next write", async () => (await reader.read(id))?.instance.message === "epoch 8, again");
      expect(reader.misses).toBe(0);
      newer.close();
      older.close();
    });

    test("only instances the api reads are written; a watch that ran out leaves the idle marker, and the next read asks again", async () => {
      const cache = new MemoryCache();
      await using h = await harness(dialect);
      await h.save({ name: "plain", tasks: [{ name: "t", type: "noop" }] });
      const id = await h.run("plain");
      const running = { ...(await h.waitState(id, ["SUCCESS"])), state: "RUNNING_EXECUTION" as const };
      const writer = new InstanceSnapshotWriter({ cache, log: silentLogger, driven: () => true, watchMs: 400 });
      const asks: number[] = [];
      const reader = new InstanceSnapshotReader(cache, silentLogger, async (wanted) => (asks.push(wanted), writer.want(wanted)), { hit: 0, miss: 0 });
      const stored = async () => (await cache.getVersioned(`instance:${id}`))?.value ?? null;
      try {
        // Driven and changing, read by nobody: past its first 250 ms and several ticks, nothing written.
        writer.track(running, "plain", [], 1, 3);
        writer.noted(id, "changed once");
        await Bun.sleep(450);
        writer.noted(id, "changed twice");
        await Bun.sleep(250);
        expect({ writes: writer.writes, stored: await stored() }).toEqual({ writes: 0, stored: null });

        // A read misses and asks: the next tick writes the snapshot, and reads are served from it.
        expect(await reader.read(id)).toBeNull();
        expect(asks).toEqual([id]);
        const served = await h.waitFor("the snapshot the read asked for", async () => (await reader.read(id)) ?? null);
        expect(served.instance.message).toBe("changed twice");

        // No read for longer than the watch, then a change: the idle marker replaces the snapshot
        // (which would go stale), and the read after it misses and asks again.
        await Bun.sleep(500);
        writer.noted(id, "changed while nobody read it");
        await h.waitFor("the idle marker", async () => (await stored()) === IDLE_MARKER);
        const before = asks.length;
        expect(await reader.read(id)).toBeNull();
        expect(asks.length).toBe(before + 1);
        const again = await h.waitFor("the snapshot written again", async () => (await reader.read(id)) ?? null);
        expect(again.instance.message).toBe("changed while nobody read it");

        // An ask that came before the master drove the run (read from its start) counts once it does.
        const early = new InstanceSnapshotWriter({ cache, log: silentLogger, driven: () => true });
        try {
          await cache.delete(`instance:${id}`);
          early.want(id);
          early.track({ ...running, message: "asked before it was driven" }, "plain", [], 1, 4);
          await h.waitFor("the snapshot asked for early", async () => (await stored())?.includes("asked before it was driven"));
        } finally {
          early.close();
        }

        // An ended instance's marker asks for nothing.
        await cache.setIfNewer(`instance:${id}`, Number.MAX_SAFE_INTEGER, READ_STORE, { ttlMs: 60_000 });
        const atEnd = asks.length;
        expect(await reader.read(id)).toBeNull();
        expect(asks.length).toBe(atEnd);
      } finally {
        writer.close();
      }
    });
  });
}
