import { describe, expect, test } from "bun:test";
import { configSchema, envName, flagName, modeKeys, settings } from "../../src/config/settings.ts";
import { type Config, type Invocation, resolveConfig } from "../../src/config.ts";
import { ConfigError } from "../../src/core/errors.ts";

const CWD = "/srv/work";
const PG = "postgres://porpoise:s3cret@db.internal:5432/porpoise";
const SECRET = "0123456789abcdef-cluster";
const cluster = ["--db", PG, "--redis", "redis://cache:6379", "--secret", SECRET];

function resolve(argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}): Invocation {
  return resolveConfig({
    argv,
    env,
    cwd: CWD,
    cpuCount: 6,
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
      return text;
    },
  });
}

function config(argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}): Config {
  const inv = resolve(argv, env, files);
  if (!("config" in inv)) throw new Error(`expected a mode invocation, got ${inv.command}`);
  return inv.config;
}

function sourcesOf(argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  const inv = resolve(argv, env, files);
  if (!("sources" in inv)) throw new Error("no sources");
  return inv.sources;
}

function failure(argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}): ConfigError {
  try {
    resolve(argv, env, files);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(argv)} to be refused`);
}

describe("defaults", () => {
  test("porpoise all with nothing set: local, SQLite under ./porpoise-data of the working directory", () => {
    const c = config(["all"]);
    expect(c).toEqual({
      host: "127.0.0.1",
      port: 12345,
      dataDir: "/srv/work/porpoise-data",
      db: { dialect: "sqlite", url: "sqlite:/srv/work/porpoise-data/porpoise.db", display: "/srv/work/porpoise-data/porpoise.db" },
      redis: null,
      secret: null,
      adminToken: null,
      adminPassword: null,
      logLevel: "info",
      logFormat: "text",
      sessionTtl: 12 * 3600,
      maxBodyBytes: 10 * 1024 * 1024,
      taskLogMaxBytes: 64 * 1024 * 1024,
      shutdownTimeout: 10,
      workerSlots: 6,
      workerGroups: ["default"],
      gateway: null,
      token: null,
      slots: 64,
      leaseMs: 10_000,
      nodeId: null,
      trustedProxies: [],
      tls: null,
      caCert: null,
      egress: { allow: [], deny: [] },
      baseUrl: null,
      workDir: "/srv/work/porpoise-data-work",
      taskUser: "nobody",
      allowRootTasks: false,
      taskEnvPass: {},
      retention: { maxAgeMs: 30 * 86_400_000, keepPerWorkflow: null, intervalMs: 600_000, workDirMaxAgeMs: 7 * 86_400_000 },
      metricsPort: 9464,
      metricsWorkflowLabels: false,
      accessLog: false,
    });
    expect(sourcesOf(["all"])).toEqual({});
  });

  test("security flags: TLS files resolve against the cwd and come in pairs; proxy and egress lists are checked", () => {
    const c = config(["all", "--tls-cert", "c.pem", "--tls-key", "/k.pem", "--trusted-proxies", "10.0.0.1, 192.168.0.0/16", "--egress-deny", "*.internal,10.0.0.0/8"]);
    expect(c.tls).toEqual({ cert: "/srv/work/c.pem", key: "/k.pem" });
    expect(c.trustedProxies).toEqual(["10.0.0.1", "192.168.0.0/16"]);
    expect(c.egress).toEqual({ allow: [], deny: ["*.internal", "10.0.0.0/8"] });
    expect(failure(["all", "--tls-cert", "c.pem"]).message).toContain("--tls-key as well");
    expect(failure(["api", "--tls-key", "k.pem"]).message).toContain("--tls-cert as well");
    expect(failure(["all", "--trusted-proxies", "example.com"]).message).toContain("trustedProxies");
    expect(failure(["all", "--egress-allow", "10.0.0.0/40"]).message).toContain("egressAllow");
    expect(failure(["all", "--egress-deny", "a/b"]).message).toContain("egressDeny");
  });

  test("the default SQLite file follows --data-dir", () => {
    const c = config(["all", "--data-dir", "../state"]);
    expect(c.dataDir).toBe("/srv/state");
    expect(c.db.url).toBe("sqlite:/srv/state/porpoise.db");
  });
});

describe("--base-url (alerts link to runs there)", () => {
  test("an http(s) URL, kept without its trailing slash, on all, api and master; refused elsewhere or malformed", () => {
    expect(config(["all", "--base-url", "https://porpoise.example.com/"]).baseUrl).toBe("https://porpoise.example.com");
    expect(config(["api", ...cluster, "--base-url", "http://10.0.0.5:12345/porpoise/"]).baseUrl).toBe("http://10.0.0.5:12345/porpoise");
    expect(config(["master", ...cluster], { PORPOISE_BASE_URL: "https://p.example" }).baseUrl).toBe("https://p.example");
    expect(failure(["all", "--base-url", "porpoise.example.com"]).message).toContain("baseUrl");
    expect(failure(["all", "--base-url", "ftp://porpoise.example.com"]).message).toContain("baseUrl");
    expect(failure(["worker", ...cluster, "--base-url", "https://p.example"]).message).toContain("--base-url");
  });
});

describe("precedence: flags > env > config file > defaults", () => {
  const files = { "/srv/work/p.yaml": "port: 1000\nlogLevel: debug\nslots: 8\n" };

  test("each layer wins over the ones below it, and the source is recorded", () => {
    const env = { PORPOISE_PORT: "2000", PORPOISE_LOG_LEVEL: "warn", PORPOISE_CONFIG: "p.yaml" };
    expect(config(["all", "--port", "3000"], env, files).port).toBe(3000);
    expect(sourcesOf(["all", "--port", "3000"], env, files).port).toBe("--port");
    expect(config(["all"], env, files).port).toBe(2000);
    expect(sourcesOf(["all"], env, files).port).toBe("PORPOISE_PORT");
    const { PORPOISE_PORT: _, ...envWithoutPort } = env;
    expect(config(["all"], envWithoutPort, files).port).toBe(1000);
    expect(sourcesOf(["all"], envWithoutPort, files).port).toBe("config file p.yaml");
    expect(config(["all"], {}, files).port).toBe(12345);
    // Layers mix per key: log level from env, slots from the file, port from the flag.
    const c = config(["all", "--port", "3000"], env, files);
    expect([c.port, c.logLevel, c.slots]).toEqual([3000, "warn", 8]);
  });

  test("--config wins over PORPOISE_CONFIG", () => {
    const more = { ...files, "/etc/porpoise.json": JSON.stringify({ port: 4000 }) };
    expect(config(["all", "--config", "/etc/porpoise.json"], { PORPOISE_CONFIG: "p.yaml" }, more).port).toBe(4000);
  });

  test("an empty env var counts as unset, so the file value shows through", () => {
    expect(config(["all", "--config", "p.yaml"], { PORPOISE_PORT: "" }, files).port).toBe(1000);
  });

  test("--flag=value and --flag value are the same", () => {
    expect(config(["all", "--port=7", "--host=0.0.0.0"])).toMatchObject({ port: 7, host: "0.0.0.0" });
  });

  test("env vars of settings the mode does not use are ignored (one environment can serve every mode)", () => {
    const c = config(["all"], { PORPOISE_GATEWAY: "not a url", PORPOISE_SERVER: "x" });
    expect(c.gateway).toBeNull();
    expect(config(["api", ...cluster], { PORPOISE_WORKER_SLOTS: "many" }).workerSlots).toBe(6);
  });

  test("every setting has the env var PORPOISE_<SCREAMING_SNAKE> and the flag --kebab-case", () => {
    expect(envName("dataDir")).toBe("PORPOISE_DATA_DIR");
    expect(envName("adminToken")).toBe("PORPOISE_ADMIN_TOKEN");
    expect(flagName("maxBodyBytes")).toBe("--max-body-bytes");
    // The schema and the settings table describe the same keys, and every key is some mode's flag.
    expect(Object.keys(configSchema.shape).sort()).toEqual(settings.map((s) => s.key).sort());
    const used = new Set(Object.values(modeKeys).flat());
    expect(settings.filter((s) => !used.has(s.key))).toEqual([]);
  });
});

describe("config file", () => {
  test("YAML, with a list for workerGroups and a duration", () => {
    const yaml = "host: 0.0.0.0\nport: 8080\nworkerGroups: [etl, gpu]\nsessionTtl: 30m\nmaxBodyBytes: 1MiB\n";
    const c = config(["all", "--config", "/etc/p.yml"], {}, { "/etc/p.yml": yaml });
    expect(c).toMatchObject({ host: "0.0.0.0", port: 8080, workerGroups: ["etl", "gpu"], sessionTtl: 1800, maxBodyBytes: 1024 * 1024 });
  });

  test("JSON", () => {
    const json = JSON.stringify({ dataDir: "/var/lib/porpoise", shutdownTimeout: 3 });
    const c = config(["all", "--config", "cfg.json"], {}, { "/srv/work/cfg.json": json });
    expect(c).toMatchObject({ dataDir: "/var/lib/porpoise", shutdownTimeout: 3, db: { url: "sqlite:/var/lib/porpoise/porpoise.db" } });
  });

  test("a key with no value (YAML null) is not set", () => {
    expect(config(["all", "--config", "n.yaml"], {}, { "/srv/work/n.yaml": "redis:\nport:\n" })).toMatchObject({ redis: null, port: 12345 });
  });

  test("an empty file is no settings", () => {
    expect(config(["all", "--config", "e.yaml"], {}, { "/srv/work/e.yaml": "" }).port).toBe(12345);
  });

  test("unknown keys are errors, with a suggestion and the list of known keys", () => {
    const e = failure(["all", "--config", "p.yaml"], {}, { "/srv/work/p.yaml": "prot: 8080\nlog_level: info\n" });
    expect(e.message).toContain('unknown key "prot" in config file p.yaml (did you mean "port"?)');
    expect(e.message).toContain('unknown key "log_level" in config file p.yaml (did you mean "logLevel"?)');
    expect(e.message).toContain("Known keys: host, port, dataDir");
    expect(e.details.map((d) => d.path)).toEqual(["prot", "log_level"]);
  });

  test("keys of other modes are allowed (one file for a whole cluster) and not applied", () => {
    const c = config(["all", "--config", "p.yaml"], {}, { "/srv/work/p.yaml": "gateway: https://api:12345\nport: 1\n" });
    expect(c.port).toBe(1);
    expect(c.gateway).toBeNull();
  });

  test("a bad value in the file names the file as its source", () => {
    const e = failure(["all", "--config", "p.yaml"], {}, { "/srv/work/p.yaml": "port: 70000\n" });
    expect(e.message).toBe("invalid configuration: port = 70000 (from config file p.yaml): expected an integer between 0 and 65535");
  });

  test("missing file, syntax errors and non-mappings are refused with the path", () => {
    expect(failure(["all", "--config", "nope.yaml"]).message).toContain("cannot read config file nope.yaml (from --config): ENOENT");
    expect(failure(["all"], { PORPOISE_CONFIG: "nope.yaml" }).message).toContain("(from PORPOISE_CONFIG)");
    expect(failure(["all", "--config", "b.json"], {}, { "/srv/work/b.json": "{port: 1" }).message).toContain("config file b.json (from --config) is not valid JSON");
    expect(failure(["all", "--config", "b.yaml"], {}, { "/srv/work/b.yaml": "port: [1, 2\n" }).message).toContain("is not valid YAML");
    expect(failure(["all", "--config", "l.yaml"], {}, { "/srv/work/l.yaml": "- port\n" }).message).toContain("must be a mapping of settings");
    expect(failure(["all", "--config", "s.yaml"], {}, { "/srv/work/s.yaml": "just text\n" }).message).toContain("not string");
  });
});

describe("bad values: the message names the key, the value, its source and what is expected", () => {
  // [key, bad value, expected text]
  const cases: [string, string, string][] = [
    ["host", "", "a host name or IP address"],
    ["host", "my host", "a host name or IP address"],
    ["port", "abc", "an integer between 0 and 65535"],
    ["port", "65536", "an integer between 0 and 65535"],
    ["port", "-1", "an integer between 0 and 65535"],
    ["port", "80.5", "an integer between 0 and 65535"],
    ["dataDir", " ", "a directory path"],
    ["db", "mysql://db/x", "postgres://user@host:5432/name"],
    ["db", "postgres://", "postgres://user@host:5432/name"],
    ["db", "sqlite:", "postgres://user@host:5432/name"],
    ["redis", "localhost:6379", "a URL like redis://host:6379"],
    ["redis", "http://cache:6379", "a URL like redis://host:6379"],
    ["logLevel", "verbose", "one of debug, info, warn, error"],
    ["logFormat", "xml", "text or json"],
    ["sessionTtl", "soon", "a duration of at least 60 seconds"],
    ["sessionTtl", "30s", "a duration of at least 60 seconds"],
    ["maxBodyBytes", "lots", "a size between 1KiB and 1GiB"],
    ["maxBodyBytes", "10", "a size between 1KiB and 1GiB"],
    ["maxBodyBytes", "2GiB", "a size between 1KiB and 1GiB"],
    ["taskLogMaxBytes", "1000", "a size between 1KiB and 1TiB"],
    ["taskLogMaxBytes", "2TiB", "a size between 1KiB and 1TiB"],
    ["taskLogMaxBytes", "64 megs", "a size between 1KiB and 1TiB"],
    ["shutdownTimeout", "-5", "a duration up to 1h"],
    ["shutdownTimeout", "2h", "a duration up to 1h"],
    ["workerSlots", "0", "an integer between 1 and 10000"],
    ["workerGroups", "etl,,gpu", "a comma-separated list of group names"],
    ["workerGroups", "etl,x\u0001y", "a comma-separated list of group names"],
    ["slots", "5000", "an integer between 1 and 4096"],
  ];
  const modeFor = (key: string) => (["all", "api", "master", "worker"] as const).find((m) => (modeKeys[m] as readonly string[]).includes(key)) ?? "all";

  for (const [key, value, expected] of cases) {
    test(`${key} = ${JSON.stringify(value)} from a flag and from the env`, () => {
      const mode = modeFor(key);
      const flag = failure([mode, `${flagName(key)}=${value}`]);
      expect(flag.message).toStartWith(`invalid configuration: ${key} = ${JSON.stringify(value)} (from ${flagName(key)}): expected ${expected}`);
      expect(flag.details).toEqual([{ path: key, message: expect.stringContaining(`(from ${flagName(key)})`) }]);
      if (value !== "") {
        const env = failure([mode], { [envName(key)]: value });
        expect(env.message).toContain(`${key} = ${JSON.stringify(value)} (from ${envName(key)}): expected ${expected}`);
      }
    });
  }

  test("the exact message for a bad port", () => {
    expect(failure(["all", "--port", "abc"]).message).toBe(
      'invalid configuration: port = "abc" (from --port): expected an integer between 0 and 65535',
    );
  });

  test("the api and worker keys: gateway, token, secret, admin token and password", () => {
    expect(failure(["worker", "--gateway", "ftp://x", "--token", "t".repeat(20)]).message).toContain(
      'gateway = "ftp://x" (from --gateway): expected an http:// or https:// URL',
    );
    expect(failure(["worker", "--gateway", "https://api", "--token", "short"]).message).toContain(
      "token = <hidden, 5 characters> (from --token): expected at least 16 characters without spaces",
    );
  });

  test("secrets are never echoed back: only their length is shown", () => {
    const e = failure(["api", ...cluster.slice(0, 4), "--secret", "tooshort", "--admin-token", "abc def", "--admin-password", "pw"]);
    expect(e.message).toContain("secret = <hidden, 8 characters> (from --secret): expected at least 16 characters");
    expect(e.message).toContain("adminToken = <hidden, 7 characters> (from --admin-token): expected 32 to 512 characters");
    expect(e.message).toContain("adminPassword = <hidden, 2 characters> (from --admin-password): expected at least 8 characters");
    expect(e.message).not.toContain("tooshort");
    expect(e.message).not.toContain("abc def");
  });

  test("all bad values are reported at once", () => {
    const e = failure(["all", "--port", "x", "--log-level", "loud"], { PORPOISE_SLOTS: "0" });
    expect(e.message.split("\n")[0]).toBe("invalid configuration (3 problems):");
    expect(e.details.map((d) => d.path).sort()).toEqual(["logLevel", "port", "slots"]);
  });
});

describe("values that are accepted", () => {
  test("db spellings normalise to the URL openStore takes", () => {
    expect(config(["all", "--db", PG]).db).toEqual({ dialect: "postgres", url: PG, display: "postgres://porpoise:***@db.internal:5432/porpoise" });
    expect(config(["all", "--db", "postgresql://u@h/d"]).db.dialect).toBe("postgres");
    expect(config(["all", "--db", "sqlite:rel/x.db"]).db.url).toBe("sqlite:/srv/work/rel/x.db");
    expect(config(["all", "--db", "sqlite:///abs/x.db"]).db.url).toBe("sqlite:/abs/x.db");
    expect(config(["all", "--db", "/abs/y.db"]).db.url).toBe("sqlite:/abs/y.db");
    expect(config(["all", "--db", "y.db"]).db.url).toBe("sqlite:/srv/work/y.db");
    expect(config(["all", "--db", "sqlite::memory:"]).db.url).toBe("sqlite::memory:");
  });

  test("sizes, durations and lists", () => {
    const c = config(["all", "--max-body-bytes", "512KiB", "--session-ttl", "3600", "--shutdown-timeout", "0", "--worker-groups", " etl , gpu,etl"]);
    expect([c.maxBodyBytes, c.sessionTtl, c.shutdownTimeout, c.workerGroups]).toEqual([512 * 1024, 3600, 0, ["etl", "gpu"]]);
    expect(config(["all", "--max-body-bytes", "1MB"]).maxBodyBytes).toBe(1_000_000);
    expect(config(["all", "--max-body-bytes", "2048"]).maxBodyBytes).toBe(2048);
  });

  test("all takes --secret (it encrypts datasource passwords at rest) but does not need it", () => {
    expect(config(["all"]).secret).toBeNull();
    expect(config(["all", "--secret", SECRET]).secret).toBe(SECRET);
    expect(config(["all"], { PORPOISE_SECRET: SECRET }).secret).toBe(SECRET);
    expect(failure(["all", "--secret", "short"]).message).toBe(
      "invalid configuration: secret = <hidden, 5 characters> (from --secret): expected at least 16 characters",
    );
  });

  test("taskLogMaxBytes: flag, env and file, for all and worker; api and master refuse the flag", () => {
    expect(config(["all", "--task-log-max-bytes", "10MiB"]).taskLogMaxBytes).toBe(10 * 1024 * 1024);
    expect(config(["all"], { PORPOISE_TASK_LOG_MAX_BYTES: "2GiB" }).taskLogMaxBytes).toBe(2 * 1024 ** 3);
    expect(config(["all", "--config", "p.yaml"], {}, { "/srv/work/p.yaml": "taskLogMaxBytes: 4096\n" }).taskLogMaxBytes).toBe(4096);
    expect(config(["worker", "--redis", "redis://c", "--secret", SECRET, "--db", PG, "--task-log-max-bytes", "1KiB"]).taskLogMaxBytes).toBe(1024);
    for (const mode of ["api", "master"]) {
      expect(failure([mode, ...cluster, "--task-log-max-bytes", "1MiB"]).message.split("\n")[0]).toBe(
        "--task-log-max-bytes is not a flag of porpoise " + mode + " (it is used by porpoise all, porpoise worker)",
      );
    }
    expect(config(["all", "--session-ttl", "1h30m"]).sessionTtl).toBe(5400);
    expect(config(["all", "--port", "0"]).port).toBe(0);
  });
});

describe("flags per mode", () => {
  test("an unknown flag exits 2 naming it, suggesting the near one and listing the mode's flags", () => {
    const e = failure(["all", "--prot", "8080"]);
    expect(e.message.split("\n")[0]).toBe("unknown flag --prot (did you mean --port?)");
    expect(e.message).toContain("Flags of porpoise all: --host, --port, --data-dir");
    expect(e.message).toContain("--config, --help");
  });

  // A flag that exists, but for another mode.
  const irrelevant: [string, string, string][] = [
    ["all", "--token", "porpoise worker, porpoise run, porpoise status, porpoise logs"],
    ["all", "--gateway", "porpoise worker"],
    ["api", "--data-dir", "porpoise all, porpoise worker, porpoise migrate"],
    ["api", "--worker-slots", "porpoise all, porpoise worker"],
    ["master", "--port", "porpoise all, porpoise api"],
    ["master", "--admin-token", "porpoise all, porpoise api"],
    ["worker", "--port", "porpoise all, porpoise api"],
    ["master", "--worker-slots", "porpoise all, porpoise worker"],
    ["migrate", "--port", "porpoise all, porpoise api"],
  ];
  for (const [mode, flag, users] of irrelevant) {
    test(`${mode} refuses ${flag}`, () => {
      const e = failure([mode, flag, "x"]);
      expect(e.message.split("\n")[0]).toBe(`${flag} is not a flag of porpoise ${mode} (it is used by ${users})`);
      expect(e.message).toContain(`Flags of porpoise ${mode}: `);
      for (const key of modeKeys[mode as keyof typeof modeKeys]) expect(e.message).toContain(flagName(key));
    });
  }

  test("a flag without a value, a repeated flag and a stray argument", () => {
    expect(failure(["all", "--port"]).message).toStartWith("--port needs a value: --port PORT");
    expect(failure(["all", "--port", "--host", "h"]).message).toStartWith("--port needs a value");
    expect(failure(["all", "--config"]).message).toStartWith("--config needs a value: --config FILE");
    expect(failure(["all", "--port", "1", "--port", "2"]).message).toStartWith("--port is given more than once");
    expect(failure(["all", "extra"]).message).toContain('unexpected argument "extra": porpoise all takes only --flags');
  });

  test("commands, help and version", () => {
    expect(failure(["mastr"]).message).toContain('unknown command "mastr" (did you mean "master"?)');
    expect(resolve([])).toEqual({ command: "help", topic: null, noCommand: true });
    expect(resolve(["--help"])).toEqual({ command: "help", topic: null, noCommand: false });
    expect(resolve(["help"])).toEqual({ command: "help", topic: null, noCommand: false });
    expect(resolve(["help", "worker"])).toEqual({ command: "help", topic: "worker", noCommand: false });
    expect(resolve(["api", "--help"])).toEqual({ command: "help", topic: "api", noCommand: false });
    // --help wins over anything wrong on the same line: asking for help never fails.
    expect(resolve(["api", "--port", "x", "-h"])).toEqual({ command: "help", topic: "api", noCommand: false });
    expect(resolve(["version"])).toEqual({ command: "version" });
    expect(resolve(["--version"])).toEqual({ command: "version" });
    expect(failure(["version", "--json"]).message).toContain("porpoise version takes no flags");
    expect(failure(["help", "deploy"]).message).toContain('no help for "deploy"');
    expect(failure(["--port", "1"]).message).toContain("no command given");
  });
});

describe("what each cluster mode needs", () => {
  test("api and master on the default SQLite store, without Redis or secret, say exactly what to pass", () => {
    for (const mode of ["api", "master"]) {
      const e = failure([mode]);
      expect(e.message.split("\n")).toEqual([
        `porpoise ${mode} needs a Postgres store: pass --db postgres://user@host:5432/porpoise (or PORPOISE_DB)`,
        `porpoise ${mode} needs Redis: pass --redis redis://host:6379 (or PORPOISE_REDIS)`,
        `porpoise ${mode} needs the shared cluster secret: pass --secret <at least 16 characters> (or PORPOISE_SECRET), the same value on every node`,
      ]);
    }
  });

  test("an SQLite store given explicitly is named with its source", () => {
    const e = failure(["api", "--redis", "redis://c", "--secret", SECRET], { PORPOISE_DB: "sqlite:x.db" });
    expect(e.message).toBe(
      'porpoise api needs a Postgres store, but db = "/srv/work/x.db" (from PORPOISE_DB) is SQLite: pass --db postgres://user@host:5432/porpoise (or PORPOISE_DB)',
    );
  });

  test("only the secret missing", () => {
    expect(failure(["master", ...cluster.slice(0, 4)]).message).toBe(
      "porpoise master needs the shared cluster secret: pass --secret <at least 16 characters> (or PORPOISE_SECRET), the same value on every node",
    );
  });

  test("api and master with Postgres, Redis and secret are accepted", () => {
    expect(config(["api", ...cluster])).toMatchObject({ db: { dialect: "postgres", url: PG }, redis: "redis://cache:6379", secret: SECRET });
    expect(config(["master", ...cluster, "--slots", "128"]).slots).toBe(128);
  });

  test("worker: Redis + secret, or gateway + token, nothing else", () => {
    expect(failure(["worker"]).message).toContain("porpoise worker needs a way to receive tasks: pass --redis redis://host:6379");
    expect(failure(["worker"]).message).toContain("--gateway https://api-host:12345 --token <token> (edge worker)");
    expect(failure(["worker", "--redis", "redis://c"]).message).toContain("porpoise worker needs the shared cluster secret");
    // A datacenter worker reads what it runs from the Store: SQLite is not shared, so it is refused.
    expect(failure(["worker", "--redis", "redis://c", "--secret", SECRET]).message).toBe(
      "porpoise worker needs the cluster's Postgres store, which it reads what it runs from: pass --db postgres://user@host:5432/porpoise (or PORPOISE_DB)",
    );
    expect(failure(["worker", "--gateway", "https://api"]).message).toBe(
      "porpoise worker needs a worker token for the gateway: pass --token <token> (or PORPOISE_TOKEN)",
    );
    expect(failure(["worker", "--gateway", "https://api", "--token", "t".repeat(16)], { PORPOISE_REDIS: "redis://c" }).message).toContain(
      "needs either --redis (datacenter worker) or --gateway (edge worker), not both: redis came from PORPOISE_REDIS, gateway from --gateway",
    );
    expect(config(["worker", "--redis", "redis://c", "--secret", SECRET, "--db", PG, "--worker-slots", "3", "--lease", "5s"])).toMatchObject({ workerSlots: 3, leaseMs: 5000 });
    expect(config(["worker", "--gateway", "https://api:12345", "--token", "t".repeat(16)]).gateway).toBe("https://api:12345");
  });

  test("migrate takes the store and data dir only", () => {
    expect(config(["migrate", "--db", PG]).db.url).toBe(PG);
    expect(config(["migrate", "--data-dir", "d"]).db.url).toBe("sqlite:/srv/work/d/porpoise.db");
  });
});
