// A redis-server without persistence on a fixed free port that a test can stop (SIGTERM),
// freeze (SIGSTOP / SIGCONT) and start again on the same port: never the shared server.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, redisAnswers } from "../../scripts/test-services.ts";
import { waitFor } from "../integration/contracts/wait.ts";

/** redis-server without persistence on a fixed free port, stoppable and restartable there. */
export async function throwawayRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "porpoise-bus-redis-"));
  const url = `redis://127.0.0.1:${port}`;
  let proc: Bun.Subprocess | null = null;
  const start = async () => {
    proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
      stdio: ["ignore", "ignore", "ignore"],
    });
    await waitFor(() => redisAnswers(url, 200), `redis-server on port ${port}`, 10_000);
  };
  const stop = async () => {
    const p = proc;
    proc = null;
    if (!p) return;
    p.kill("SIGTERM");
    p.kill("SIGCONT"); // a frozen server handles its SIGTERM only once it runs again
    await p.exited;
  };
  await start();
  return {
    url,
    start,
    stop,
    /** SIGSTOP / SIGCONT: a server that keeps its connections open and answers nothing. */
    freeze: (frozen: boolean) => proc?.kill(frozen ? "SIGSTOP" : "SIGCONT"),
    async [Symbol.asyncDispose]() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

