// Records the bytecode-order profiles scripts/build.ts lays the executable out by
// (scripts/bytecode-order/<mode>.order): which functions each mode runs from start to ready and
// idle, then through a SIGTERM stop. They are generated data (about 0.3 MB of hashes per mode)
// and go stale with every change to start-up code, so they are not kept in git: record them
// right before a release build (`bun scripts/record-bytecode-order.ts && npm run build`). A build
// without them works and idles about 2 MB higher per process; a stale profile only costs memory.
//
//   bun scripts/record-bytecode-order.ts
//
// Needs what the cluster tests need (Postgres, redis-server): api, master and worker start as a
// cluster (test/cluster/cluster-harness.ts), `all` on SQLite in a temp data dir.

import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster } from "../test/cluster/cluster-harness.ts";
import { cleanEnv, spawn } from "../test/integration/cli-process.ts";
import { BYTECODE_ORDER_DIR, BYTECODE_ORDER_MODES, buildExecutable } from "./build.ts";

const IDLE_MS = 2000;

const tmp = mkdtempSync(join(tmpdir(), "porpoise-bytecode-order-"));
// Task users (nobody, when run as root) must reach `all`'s work dir, a sibling of its data dir.
chmodSync(tmp, 0o711);
try {
  const { path: binary } = await buildExecutable("x64", join(tmp, "dist"));
  const profile = (mode: string) => join(tmp, `${mode}.order`);
  // `env` execs the binary: the pid the harness signals is porpoise's. The profile is written on exit.
  const command = (args: string[]) => ["env", `BUN_BYTECODE_ORDER_OUT=${profile(args[0]!)}`, binary, ...args];
  {
    await using cluster = await startCluster({ prefix: "porpoise-bytecode-order-", masters: 1, workers: 1, lease: 10, command });
    await Bun.sleep(IDLE_MS);
    for (const node of [cluster.workers[0]!, cluster.masters[0]!, cluster.apiNode]) {
      node.signal("SIGTERM");
      await node.proc.exit(15_000);
    }
  }
  const dataDir = join(tmp, "all");
  mkdirSync(dataDir, { mode: 0o700 });
  {
    await using all = spawn(command(["all", "--port", "0", "--data-dir", dataDir]), { cwd: tmp, env: cleanEnv() });
    await all.waitFor(/porpoise all ready on/, 30_000);
    await Bun.sleep(IDLE_MS);
    all.signal("SIGTERM");
    await all.exit(15_000);
  }
  mkdirSync(BYTECODE_ORDER_DIR, { recursive: true });
  for (const mode of BYTECODE_ORDER_MODES) {
    copyFileSync(profile(mode), join(BYTECODE_ORDER_DIR, `${mode}.order`));
    console.log(join(BYTECODE_ORDER_DIR, `${mode}.order`));
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
