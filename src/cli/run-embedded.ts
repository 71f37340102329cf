// `porpoise run FILE` without --server: `porpoise all` started in this process on a temporary
// data directory, listening on a free port of 127.0.0.1 with a random admin token. `run`
// then talks to it over HTTP exactly as it talks to a remote server: one code path.

import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Logger } from "../core/log.ts";
import { startAll } from "../modes/all.ts";

export interface EmbeddedServer {
  url: string;
  token: string;
  /** Stops the server and removes its data directory. Never throws. */
  stop(): Promise<void>;
}

export async function startEmbedded(opts: { config: Config; log: Logger }): Promise<EmbeddedServer> {
  const tempDir = await mkdtemp(join(tmpdir(), "porpoise-run-"));
  const removeDir = () => rm(tempDir, { recursive: true, force: true }).catch((err) => opts.log.warn(`could not remove ${tempDir}`, { err }));
  // Both in the one temporary directory: the default work dir would be a sibling of the data dir.
  const dataDir = join(tempDir, "data");
  const workDir = join(tempDir, "work");
  // mkdtemp makes it 0700: task users (porpoise as root) must be able to pass through to the work dir.
  await chmod(tempDir, 0o711);
  const token = randomBytes(32).toString("base64url");
  const path = join(dataDir, "porpoise.db");
  const config: Config = {
    ...opts.config,
    host: "127.0.0.1",
    port: 0,
    dataDir,
    workDir,
    db: { dialect: "sqlite", url: `sqlite:${path}`, display: path },
    redis: null,
    adminToken: token,
    adminPassword: null,
    // Nothing is in flight from anyone else: the run has ended (or was stopped) when we stop.
    shutdownTimeout: 5,
  };
  let running: Awaited<ReturnType<typeof startAll>>;
  try {
    // print: the only thing `all` prints is the admin token, which is ours and preset.
    running = await startAll({ config, log: opts.log, print: () => {} });
  } catch (err) {
    await removeDir();
    throw err;
  }
  let stopped: Promise<void> | null = null;
  return {
    url: running.url,
    token,
    stop() {
      stopped ??= running.stop().then(removeDir);
      return stopped;
    },
  };
}
