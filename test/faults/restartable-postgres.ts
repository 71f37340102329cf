// A throwaway Postgres the fault tests can kill -9, stop and start again on the same port and
// data directory — never the shared server on 5432. Built from the suite's own pieces
// (scripts/test-services.ts: installed binaries, a free port, run as the `postgres` user when
// we are root); disposing kills it and removes the directory.

import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asUser, freePort, postgresAnswers, postgresBinDir, unprivilegedUser } from "../../scripts/test-services.ts";

export interface RestartablePostgres extends AsyncDisposable {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  /** Starts the server (again) and resolves once it answers. */
  start(): Promise<void>;
  /** kill -9 of the postmaster (its backends notice and exit; the next start recovers from the WAL). */
  kill(): Promise<void>;
  /** A fast shutdown (SIGINT: sessions are terminated with 57P01, then a clean stop). */
  stopFast(): Promise<void>;
}

export async function restartablePostgres(): Promise<RestartablePostgres> {
  const bin = postgresBinDir();
  const user = unprivilegedUser();
  const dir = mkdtempSync(join(tmpdir(), "porpoise-pg-fault-"));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, "data");
  const init = Bun.spawnSync(asUser(user, [join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]));
  if (init.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (exit ${init.exitCode}): ${init.stderr.toString().slice(-2000)}`);
  }
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let proc: Bun.Subprocess | null = null;

  const start = async () => {
    // Right after a kill -9 the old backends may still hold the shared memory for a moment: try again.
    for (let attempt = 1; ; attempt++) {
      const p = Bun.spawn(
        asUser(user, [join(bin, "postgres"), "-D", data, "-p", String(port), "-k", dir, "-h", "127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"]),
        { stdio: ["ignore", Bun.file(join(dir, `postgres-${attempt}.log`)), Bun.file(join(dir, `postgres-${attempt}.log`))] },
      );
      const deadline = Date.now() + 30_000;
      while (p.exitCode === null && Date.now() < deadline && !(await postgresAnswers(url, 1))) await Bun.sleep(25);
      if (p.exitCode === null && (await postgresAnswers(url, 1))) {
        proc = p;
        return;
      }
      p.kill("SIGKILL");
      await p.exited;
      if (attempt >= 20) throw new Error(`throwaway postgres on port ${port} did not come up; logs in ${dir}`);
      await Bun.sleep(250);
    }
  };
  const signal = async (sig: NodeJS.Signals) => {
    const p = proc;
    proc = null;
    if (!p) return;
    p.kill(sig);
    await p.exited;
  };
  await start();
  const onExit = () => proc?.kill("SIGKILL");
  process.on("exit", onExit);
  return {
    url,
    start,
    kill: () => signal("SIGKILL"),
    stopFast: () => signal("SIGINT"),
    async [Symbol.asyncDispose]() {
      process.off("exit", onExit);
      await signal("SIGKILL");
      // Orphaned backends of a killed postmaster exit on their own; give them a moment before the directory goes.
      await Bun.sleep(200);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
