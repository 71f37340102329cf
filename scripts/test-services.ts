// Throwaway Postgres and Redis for the test suite and CI, started from the installed binaries
// when the configured servers do not answer. Each server lives in its own temp dir on a free
// port and is removed when its owner stops it — or, should the owner be killed with SIGKILL,
// by a small guardian shell that watches the owner's pid.
//
// As a command: `bun scripts/test-services.ts [--] <cmd> [args…]` makes sure both services
// answer (starting throwaway ones if not), runs <cmd> with DATABASE_URL and REDIS_URL set, and
// cleans up afterwards. Without a command it prints the URLs and waits for Ctrl-C.

import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

export const DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres";
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

export interface ThrowawayService {
  kind: "postgres" | "redis";
  url: string;
  pid: number;
  dir: string;
  stop(): Promise<void>;
  /** For `process.on("exit")`, where nothing asynchronous runs any more. */
  stopSync(): void;
}

/** True when a Postgres server at `url` accepts a connection and answers `select 1`. */
export async function postgresAnswers(url: string, timeoutSeconds = 2): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: timeoutSeconds, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** True when a Redis server at `url` answers PING (or asks for a password, which is still an answer). */
export async function redisAnswers(url: string, timeoutMs = 2000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise<boolean>((resolve) => {
    let done = false;
    const finish = (ok: boolean, socket?: { end(): void }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.end();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    Bun.connect({
      hostname: hostname || "127.0.0.1",
      port: Number(port || 6379),
      socket: {
        open: (s) => void s.write("PING\r\n"),
        data: (s, data) => finish(/^(\+PONG|-NOAUTH)/.test(data.toString()), s),
        error: () => finish(false),
        close: () => finish(false),
        connectError: () => finish(false),
      },
    }).catch(() => finish(false));
  });
}

export async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export function postgresBinDir(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? readdirSync(base).filter((v) => existsSync(join(base, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0]) return join(base, versions[0], "bin");
  const onPath = Bun.which("initdb");
  if (onPath) return onPath.replace(/\/initdb$/, "");
  throw new Error("no Postgres binaries found (looked in /usr/lib/postgresql/*/bin and PATH): install the postgresql package");
}

/** Postgres refuses to run as root, so as root we drop to the `postgres` (or `nobody`) user with setpriv. */
export function unprivilegedUser(): { name: string; uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  for (const name of ["postgres", "nobody"]) {
    const uid = Bun.spawnSync(["id", "-u", name]);
    const gid = Bun.spawnSync(["id", "-g", name]);
    if (uid.exitCode === 0 && gid.exitCode === 0) {
      return { name, uid: Number(uid.stdout.toString()), gid: Number(gid.stdout.toString()) };
    }
  }
  throw new Error("running as root and found neither a `postgres` nor a `nobody` user to run Postgres as");
}

export function asUser(user: ReturnType<typeof unprivilegedUser>, cmd: string[]): string[] {
  return user ? ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", ...cmd] : cmd;
}

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function stopProcessSync(pid: number, signal: NodeJS.Signals, dir: string): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
  const deadline = Date.now() + 10_000;
  while (alive(pid) && Date.now() < deadline) Bun.sleepSync(10);
  if (alive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
    while (alive(pid)) Bun.sleepSync(10);
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A detached shell that outlives us: when `ownerPid` is gone it stops `pid` (only if that pid still
 * runs out of `dir`, so a recycled pid is left alone) and removes `dir`.
 */
function spawnGuardian(ownerPid: number, pid: number, signal: string, dir: string): { kill(): void } {
  const script = `
    while kill -0 ${ownerPid} 2>/dev/null; do sleep 1; done
    if grep -qa -- '${dir}' /proc/${pid}/cmdline 2>/dev/null; then
      kill -${signal} ${pid}; i=0
      while kill -0 ${pid} 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
      kill -KILL ${pid} 2>/dev/null
    fi
    rm -rf '${dir}'`;
  const guard = Bun.spawn(["setsid", "sh", "-c", script], { stdio: ["ignore", "ignore", "ignore"] });
  guard.unref();
  return { kill: () => void guard.kill("SIGKILL") };
}

async function waitUntil(check: () => Promise<boolean>, proc: Bun.Subprocess, what: string, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) break;
    if (await check()) return;
    await Bun.sleep(25);
  }
  const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : "(no log)";
  throw new Error(`${what} did not come up (exit code ${proc.exitCode ?? "none, still running"}); its log ends with:\n${log}`);
}

function service(kind: ThrowawayService["kind"], url: string, proc: Bun.Subprocess, signal: NodeJS.Signals, dir: string): ThrowawayService {
  const guardian = spawnGuardian(process.pid, proc.pid, signal.replace(/^SIG/, ""), dir);
  let stopped = false;
  return {
    kind,
    url,
    pid: proc.pid,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      guardian.kill();
      proc.kill(signal);
      const timeout = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await proc.exited;
      clearTimeout(timeout);
      rmSync(dir, { recursive: true, force: true });
    },
    stopSync() {
      if (stopped) return;
      stopped = true;
      guardian.kill();
      stopProcessSync(proc.pid, signal, dir);
    },
  };
}

/** initdb + postgres (trust auth, no fsync: test data is disposable) on a free port in a temp dir. */
export async function startPostgres(): Promise<ThrowawayService> {
  const bin = postgresBinDir();
  const user = unprivilegedUser();
  const dir = mkdtempSync(join(tmpdir(), "porpoise-pg-"));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, "data");
  const logFile = join(dir, "postgres.log");
  const init = Bun.spawnSync(
    asUser(user, [join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]),
  );
  if (init.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (exit ${init.exitCode}): ${init.stderr.toString().slice(-2000)}`);
  }
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = Bun.spawn(
      asUser(user, [
        join(bin, "postgres"), "-D", data, "-p", String(port), "-k", dir, "-h", "127.0.0.1",
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300",
      ]),
      { stdio: ["ignore", Bun.file(logFile), Bun.file(logFile)] },
    );
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    try {
      await waitUntil(() => postgresAnswers(url, 1), proc, `throwaway postgres on port ${port}`, logFile);
      return service("postgres", url, proc, "SIGINT", dir);
    } catch (err) {
      proc.kill("SIGKILL");
      await proc.exited;
      // The free port can be taken between our probe and postgres binding it; try another.
      if (attempt >= 3) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

/** redis-server without persistence on a free port in a temp dir. */
export async function startRedis(): Promise<ThrowawayService> {
  const redis = Bun.which("redis-server");
  if (!redis) throw new Error("redis-server is not on PATH: install the redis-server package");
  const dir = mkdtempSync(join(tmpdir(), "porpoise-redis-"));
  const logFile = join(dir, "redis.log");
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = Bun.spawn(
      [redis, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", logFile],
      { stdio: ["ignore", "ignore", "ignore"] },
    );
    const url = `redis://127.0.0.1:${port}`;
    try {
      await waitUntil(() => redisAnswers(url, 500), proc, `throwaway redis on port ${port}`, logFile);
      return service("redis", url, proc, "SIGTERM", dir);
    } catch (err) {
      proc.kill("SIGKILL");
      await proc.exited;
      if (attempt >= 3) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

export interface EnsuredServices {
  postgresUrl: string;
  redisUrl: string;
  started: ThrowawayService[];
  stop(): Promise<void>;
  stopSync(): void;
}

/** Uses the given servers when they answer, else starts throwaway ones (both checks run at once). */
export async function ensureServices(opts: {
  postgresUrl: string;
  redisUrl: string;
  note?: (line: string) => void;
}): Promise<EnsuredServices> {
  const note = opts.note ?? ((line: string) => process.stderr.write(line + "\n"));
  const [pg, redis] = await Promise.all([
    postgresAnswers(opts.postgresUrl).then(async (ok) => (ok ? null : startPostgres())),
    redisAnswers(opts.redisUrl).then(async (ok) => (ok ? null : startRedis())),
  ]);
  const started = [pg, redis].filter((s): s is ThrowawayService => s !== null);
  for (const s of started) {
    const given = s.kind === "postgres" ? opts.postgresUrl : opts.redisUrl;
    note(`test services: ${s.kind} at ${given} does not answer; started a throwaway one at ${s.url} (pid ${s.pid}, ${s.dir})`);
  }
  return {
    postgresUrl: pg?.url ?? opts.postgresUrl,
    redisUrl: redis?.url ?? opts.redisUrl,
    started,
    stop: async () => void (await Promise.all(started.map((s) => s.stop()))),
    stopSync: () => started.forEach((s) => s.stopSync()),
  };
}

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0] === "--" ? argv.slice(1) : argv;
  const services = await ensureServices({
    postgresUrl: process.env.DATABASE_URL ?? DEFAULT_POSTGRES_URL,
    redisUrl: process.env.REDIS_URL ?? DEFAULT_REDIS_URL,
  });
  const stopOnSignal = (signal: NodeJS.Signals) => {
    services.stopSync();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", stopOnSignal);
  process.on("SIGTERM", stopOnSignal);
  if (cmd.length === 0) {
    console.log(`DATABASE_URL=${services.postgresUrl}\nREDIS_URL=${services.redisUrl}`);
    await new Promise(() => {});
  }
  const child = Bun.spawn(cmd, {
    stdio: ["inherit", "inherit", "inherit"],
    env: { ...process.env, DATABASE_URL: services.postgresUrl, REDIS_URL: services.redisUrl },
  });
  const code = await child.exited;
  await services.stop();
  return code;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
