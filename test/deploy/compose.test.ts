// compose.yaml, read as `docker compose` would (YAML with anchors and merge keys, ${VAR}
// interpolation): Postgres, Redis, one api, two masters, two workers and a one-service `all`
// profile; every porpoise service's command line and environment resolve with porpoise's own
// configuration code to the mode it is named for, pointing at the compose Postgres and Redis;
// health checks ask real routes on the port the service listens on.

import { describe, expect, test } from "bun:test";
import { ConfigError } from "../../src/core/errors.ts";
import { healthPaths, readRepoFile, resolveContainer } from "./deploy-files.ts";

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  profiles?: string[];
  ports?: string[];
  volumes?: string[];
  restart?: string;
}

/** Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}. */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, esc, braced, colon, op, arg, bare) => {
    if (esc === "$") return "$";
    const name = (braced ?? bare) as string;
    const value = env[name];
    const unset = value === undefined || (colon === ":" && value === "");
    if (op === "-") return unset ? (arg as string) : (value as string);
    if (op === "?") {
      if (unset) throw new Error(`required variable ${name} is missing a value: ${arg}`);
      return value as string;
    }
    if (value === undefined) throw new Error(`compose would warn: ${whole} is not set and has no default`);
    return value;
  });
}

/** Compose interpolates the values of the parsed file (not its comments, not its keys). */
function interpolateValues(node: unknown, env: Record<string, string>): unknown {
  if (typeof node === "string") return interpolate(node, env);
  if (Array.isArray(node)) return node.map((n) => interpolateValues(n, env));
  if (node !== null && typeof node === "object") return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateValues(v, env)]));
  return node;
}

function load(env: Record<string, string>): { services: Record<string, Service> } {
  return interpolateValues(Bun.YAML.parse(readRepoFile("compose.yaml")), env) as { services: Record<string, Service> };
}

const exported = { PORPOISE_SECRET: "a-secret-from-the-shell-0123456789", PORPOISE_ADMIN_TOKEN: "an-admin-token-from-the-shell-0123456789" };
const { services } = load(exported);
const porpoise = Object.entries(services).filter(([, s]) => s.image === "porpoise:local");

function envOf(s: Service): Record<string, string> {
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? "" : String(v)]));
}

function resolved(name: string) {
  const s = services[name] as Service;
  return resolveContainer(s.command ?? [], envOf(s));
}

describe("compose.yaml", () => {
  test("Postgres, Redis, one api, two masters, two workers; `all` is a profile of its own", () => {
    const byMode = new Map<string, string[]>();
    for (const [name, s] of porpoise) {
      const mode = (s.command ?? [])[0] as string;
      byMode.set(mode, [...(byMode.get(mode) ?? []), name]);
    }
    expect(byMode.get("api")).toEqual(["api"]);
    expect(byMode.get("master")).toEqual(["master-1", "master-2"]);
    expect(byMode.get("worker")).toEqual(["worker-1", "worker-2"]);
    expect(byMode.get("migrate")).toEqual(["migrate"]);
    expect(byMode.get("all")).toEqual(["all"]);
    expect(services.postgres?.image).toMatch(/^postgres:/);
    expect(services.redis?.image).toMatch(/^redis:/);
    // `docker compose up` starts the cluster; only `all` sits behind a profile.
    for (const [name, s] of Object.entries(services)) expect(s.profiles).toEqual(name === "all" ? ["all"] : undefined);
    // Every porpoise service builds the repository's Dockerfile.
    for (const [, s] of porpoise) expect(s.build).toBe(".");
  });

  test("every porpoise command line resolves with porpoise's own config code to its mode", () => {
    for (const [name, s] of porpoise) {
      const { command, invocation } = resolved(name);
      expect(command).toBe((s.command as string[])[0] as typeof command);
      const c = invocation.config;
      if (command === "all") {
        // SQLite in the image's data volume, no cluster.
        expect(c.db.dialect).toBe("sqlite");
        expect(c.db.url).toBe("sqlite:/data/porpoise.db");
        expect(c.redis).toBeNull();
        continue;
      }
      // The cluster: the compose Postgres and Redis by service name.
      expect(c.db.dialect).toBe("postgres");
      expect(new URL(c.db.url).host).toBe("postgres:5432");
      const pg = services.postgres?.environment ?? {};
      expect(new URL(c.db.url).pathname).toBe(`/${pg.POSTGRES_DB}`);
      expect(decodeURIComponent(new URL(c.db.url).username)).toBe(String(pg.POSTGRES_USER));
      expect(decodeURIComponent(new URL(c.db.url).password)).toBe(String(pg.POSTGRES_PASSWORD));
      if (command === "migrate") continue;
      expect(c.redis).toBe("redis://redis:6379");
      expect(c.secret).toBe(exported.PORPOISE_SECRET);
      expect(c.nodeId).toBe(name);
      if (command === "api") expect(c.adminToken).toBe(exported.PORPOISE_ADMIN_TOKEN);
    }
  });

  test("a command with a flag its mode does not take is refused by the same check", () => {
    const s = services["master-1"] as Service;
    expect(() => resolveContainer([...(s.command ?? []), "--worker-slots", "4"], envOf(s))).toThrow(ConfigError);
    expect(() => resolveContainer(s.command ?? [], { ...envOf(s), PORPOISE_WORKER_SLOTS: "4" })).toThrow(/porpoise master does not read PORPOISE_WORKER_SLOTS/);
  });

  test("without exported secrets the placeholders say change-me, and the ports listen on 127.0.0.1 only", () => {
    const plain = load({}).services;
    const api = resolveContainer(plain.api?.command ?? [], envOf(plain.api as Service)).invocation.config;
    expect(api.secret).toStartWith("change-me");
    expect(api.adminToken).toStartWith("change-me");
    for (const [, s] of Object.entries(plain)) for (const p of s.ports ?? []) expect(p).toStartWith("127.0.0.1:");
  });

  test("health checks ask real routes on the port the service listens on; dependencies wait for them", () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        const target = services[dep] as Service;
        expect(target).toBeDefined();
        if (condition === "service_healthy") expect(target.healthcheck?.test).toBeDefined();
        if (condition === "service_completed_successfully") expect(target.restart).toBe("no");
        expect(dep).not.toBe(name);
      }
    }
    for (const [name, s] of porpoise) {
      const { invocation } = resolved(name);
      if (s.healthcheck?.disable) continue;
      const probe = (s.healthcheck?.test ?? []).join(" ");
      const url = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(probe);
      expect(url).not.toBeNull();
      // api and all on their API port, master and worker on their --metrics-port listener.
      const c = invocation.config;
      expect(Number(url?.[1])).toBe(name.startsWith("master") || name.startsWith("worker") ? c.metricsPort : c.port);
      expect(healthPaths).toContain(url?.[2] as string);
    }
    // Every node is checked (only the one-shot migrate is not); they start after the migration ran.
    for (const [name, s] of porpoise) expect(s.healthcheck?.disable ?? false).toBe(name === "migrate");
    for (const n of ["api", "master-1", "master-2", "worker-1", "worker-2"]) {
      expect(services[n]?.depends_on?.migrate?.condition).toBe("service_completed_successfully");
      expect(services[n]?.depends_on?.postgres?.condition).toBe("service_healthy");
      expect(services[n]?.depends_on?.redis?.condition).toBe("service_healthy");
    }
  });
});
