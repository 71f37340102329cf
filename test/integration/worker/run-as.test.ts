// Who a task runs as (worker/run-as.ts) and what a process that runs tasks does at start
// (modes/task-isolation.ts): the decisions, with porpoise's own identity given, and the real
// OS user database for lookups.

import { describe, expect, test } from "bun:test";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveConfig, type Config } from "../../../src/config.ts";
import type { Logger } from "../../../src/core/log.ts";
import { NOT_ROOT_WARNING, prepareTaskIsolation, secureDataDir } from "../../../src/modes/task-isolation.ts";
import { cachedLookup, createIdentityResolver, parsePasswdLine, type OsUser } from "../../../src/worker/run-as.ts";
import { tempDir } from "./worker-helpers.ts";

const root: OsUser = { name: "root", uid: 0, gid: 0 };
const app: OsUser = { name: "app", uid: 1000, gid: 1000 };
const users: Record<string, OsUser> = { root, nobody: { name: "nobody", uid: 65534, gid: 65534 }, etl: { name: "etl", uid: 1201, gid: 1300 } };
const lookup = async (name: string) => users[name] ?? null;

function recordingLogger(): Logger & { lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const log = {
    lines,
    debug: (msg: string) => lines.push({ level: "debug", msg }),
    info: (msg: string) => lines.push({ level: "info", msg }),
    warn: (msg: string) => lines.push({ level: "warn", msg }),
    error: (msg: string) => lines.push({ level: "error", msg }),
    child: () => log,
  };
  return log as unknown as Logger & { lines: typeof lines };
}

function configFor(dir: string, flags: string[] = []): Config {
  const inv = resolveConfig({ argv: ["all", "--data-dir", join(dir, "data"), ...flags], env: {}, cwd: dir, cpuCount: 1, readFile: () => "" });
  if (!("config" in inv)) throw new Error("no config");
  return inv.config;
}

describe("identity of a task", () => {
  test("as root: the tenant, else the default task user; switching to them", async () => {
    const resolve = createIdentityResolver({ self: root, defaultUser: "nobody", allowRoot: false, lookup });
    expect(await resolve("etl")).toEqual({ ok: true, runAs: { name: "etl", uid: 1201, gid: 1300, switchUser: true } });
    expect(await resolve(null)).toEqual({ ok: true, runAs: { name: "nobody", uid: 65534, gid: 65534, switchUser: true } });
  });

  test("an unknown user fails with its name; root only with allowRoot", async () => {
    const resolve = createIdentityResolver({ self: root, defaultUser: "ghost", allowRoot: false, lookup });
    const unknown = await resolve("nosuch");
    expect(unknown).toMatchObject({ ok: false, reason: "unknown-user" });
    expect(!unknown.ok && unknown.message).toContain('tenant "nosuch" is not an OS user');
    const noDefault = await resolve(null);
    expect(!noDefault.ok && noDefault.message).toContain('default task user "ghost" (--task-user)');
    expect(await resolve("root")).toMatchObject({ ok: false, reason: "root" });
    const allowed = createIdentityResolver({ self: root, defaultUser: "nobody", allowRoot: true, lookup });
    expect(await allowed("root")).toEqual({ ok: true, runAs: { ...root, switchUser: false } });
  });

  test("not root: porpoise's own user, and a tenant it cannot apply is said in the task log", async () => {
    const resolve = createIdentityResolver({ self: app, defaultUser: "nobody", allowRoot: false, lookup });
    expect(await resolve(null)).toEqual({ ok: true, runAs: { ...app, switchUser: false } });
    const tenant = await resolve("etl");
    expect(tenant.ok && tenant.runAs).toEqual({ ...app, switchUser: false });
    expect(tenant.ok && tenant.note).toContain('tenant "etl" not applied');
  });

  test("the real user database: getent, then /etc/passwd; answers are cached", async () => {
    let calls = 0;
    const real = cachedLookup(async (name) => {
      calls++;
      return name === "x" ? null : { name, uid: 1, gid: 1 };
    });
    await real("a");
    await real("a");
    expect(calls).toBe(1);
    const resolve = createIdentityResolver({ self: root, defaultUser: "nobody", allowRoot: false });
    const nobody = await resolve(null);
    expect(nobody.ok && nobody.runAs.uid).toBe(Number(Bun.spawnSync(["id", "-u", "nobody"]).stdout.toString().trim()));
    expect(await resolve("pp-no-such-user-here")).toMatchObject({ ok: false, reason: "unknown-user" });
    expect(parsePasswdLine("etl:x:1201:1300:ETL:/home/etl:/bin/sh")).toEqual({ name: "etl", uid: 1201, gid: 1300 });
    expect(parsePasswdLine("broken:x::1")).toBeNull();
  });
});

describe("start-up", () => {
  test("not root: ONE warning that tasks are not isolated, and the work dir is still made", async () => {
    using dir = tempDir("isolation-start");
    const log = recordingLogger();
    const config = configFor(dir.path);
    await prepareTaskIsolation({ config, log, self: app });
    const warnings = log.lines.filter((l) => l.level === "warn");
    expect(warnings).toEqual([{ level: "warn", msg: NOT_ROOT_WARNING }]);
    expect(NOT_ROOT_WARNING).toContain("NOT isolated");
    expect(statSync(config.workDir).mode & 0o777).toBe(0o711);
  });

  test("an existing data dir of an older release is closed: 0700 itself, 0600 files, 0700 dirs", async () => {
    using dir = tempDir("isolation-modes");
    const data = join(dir.path, "data");
    mkdirSync(join(data, "logs", "1"), { recursive: true, mode: 0o755 });
    writeFileSync(join(data, "porpoise.db"), "", { mode: 0o644 });
    writeFileSync(join(data, "admin-token"), "", { mode: 0o644 });
    writeFileSync(join(data, "logs", "1", "1-1.log"), "", { mode: 0o644 });
    await secureDataDir(data);
    const mode = (p: string) => statSync(join(data, p)).mode & 0o777;
    expect([mode("."), mode("porpoise.db"), mode("admin-token"), mode("logs")]).toEqual([0o700, 0o600, 0o600, 0o700]);
  });
});
