// The image (Dockerfile), read without a Docker daemon: its runtime stage has what the task types
// run (bash for shell, python3 for python, as src/worker/task-types/ start them), CA
// certificates, tini as PID 1, a non-root user, OCI labels and a health check on a real route;
// its default command resolves with porpoise's own configuration code; the README tour
// workflow uses only task types whose interpreters are installed.

import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, fromSource, run, spawn } from "../integration/cli-process.ts";
import { settingByKey } from "../../src/config/settings.ts";
import {
  type DockerStage,
  ROOT,
  execForm,
  healthPaths,
  imageEnv,
  keyValues,
  parseDockerfile,
  readRepoFile,
  resolveContainer,
  runtimeStage,
  settingEnvNames,
} from "./deploy-files.ts";

const stages = parseDockerfile(readRepoFile("Dockerfile"));
const runtime = runtimeStage();
const build = stages[0] as DockerStage;
const pkg = JSON.parse(readRepoFile("package.json")) as { version: string; license: string };

function ops(stage: DockerStage, op: string): string[] {
  return stage.instructions.filter((i) => i.op === op).map((i) => i.args);
}

function only(stage: DockerStage, op: string): string {
  const found = ops(stage, op);
  if (found.length !== 1) throw new Error(`expected one ${op} in the runtime stage, found ${found.length}`);
  return found[0] as string;
}

/** Debian packages the runtime stage installs with apt-get. */
function aptPackages(): Set<string> {
  const out = new Set<string>();
  for (const run of ops(runtime, "RUN")) {
    for (const m of run.matchAll(/apt-get install ([^;&|]*)/g)) {
      for (const word of (m[1] as string).split(/\s+/)) if (word !== "" && !word.startsWith("-")) out.add(word);
    }
  }
  return out;
}

/**
 * The programs the script task types start, by task type: the runner table of
 * src/worker/executor.ts (`shell: shellRunner`), each runner's file, its `command: ["bash"]`.
 */
function taskInterpreters(): Map<string, string> {
  const executor = readRepoFile("src/worker/executor.ts");
  const fileOf = new Map<string, string>();
  for (const m of executor.matchAll(/import \{ (\w+Runner) \} from "\.\/task-types\/([\w-]+\.ts)"/g)) fileOf.set(m[1] as string, m[2] as string);
  const out = new Map<string, string>();
  for (const m of executor.matchAll(/^\s+(\w+): (\w+Runner),$/gm)) {
    const file = fileOf.get(m[2] as string);
    if (!file) continue;
    const command = /command:\s*\["([^"]+)"/.exec(readRepoFile(`src/worker/task-types/${file}`))?.[1];
    if (command) out.set(m[1] as string, command);
  }
  return out;
}

/** The HEALTHCHECK's CMD (exec form), as Docker runs it. */
function healthcheckCommand(): string[] {
  const hc = only(runtime, "HEALTHCHECK");
  return execForm(hc.slice(hc.indexOf("CMD") + 3).trim());
}

describe("Dockerfile", () => {
  test("the runtime stage is Debian with glibc, as the compiled Bun executable needs, and multi-arch builds stay", () => {
    expect(stages.length).toBe(2);
    expect(runtime.from).toMatch(/^debian:bookworm(-slim)?$/);
    // The build stage runs on the builder's platform and cross-compiles for the target.
    expect(build.platform).toBe("$BUILDPLATFORM");
    const buildRun = ops(build, "RUN").join("\n");
    expect(buildRun).toContain("amd64) arch=x64");
    expect(buildRun).toContain("arm64) arch=arm64");
    // Everything the build stage copies exists (a missing path fails `docker build`).
    for (const copy of ops(build, "COPY")) {
      const paths = copy.split(/\s+/).filter((w) => !w.startsWith("--"));
      for (const p of paths.slice(0, -1)) expect(existsSync(join(ROOT, p))).toBe(true);
    }
  });

  test("it installs bash, python3, CA certificates and tini", () => {
    const pkgs = aptPackages();
    for (const p of ["bash", "python3", "ca-certificates", "tini"]) expect(pkgs).toContain(p);
    // apt lists are not left in the image.
    expect(ops(runtime, "RUN").join("\n")).toContain("rm -rf /var/lib/apt/lists/*");
  });

  test("the interpreters of the script task types are installed (Debian names them as the commands)", () => {
    const interpreters = taskInterpreters();
    expect(interpreters.get("shell")).toBe("bash");
    expect(interpreters.get("python")).toBe("python3");
    const pkgs = aptPackages();
    for (const command of interpreters.values()) expect(pkgs).toContain(command);
  });

  test("the README tour workflow only needs what the image has", () => {
    const readme = readRepoFile("README.md");
    const block = /```yaml\n# etl\.yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const flow = Bun.YAML.parse(block as string) as { tasks: { type: string }[] };
    const types = new Set(flow.tasks.map((t) => t.type));
    expect(types).toEqual(new Set(["shell", "python"]));
    const interpreters = taskInterpreters();
    const pkgs = aptPackages();
    for (const t of types) expect(pkgs).toContain(interpreters.get(t) as string);
  });

  test("it runs as a non-root user it creates", () => {
    const user = only(runtime, "USER");
    const [uid, gid] = user.split(":");
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    expect(Number(gid)).toBeGreaterThan(0);
    const run = ops(runtime, "RUN").join("\n");
    expect(run).toContain(`useradd --system --uid ${uid} --gid ${gid}`);
    // The data dir and the work dir belong to that user (0700 and 0711, as porpoise sets them).
    expect(run).toContain(`chown ${uid}:${gid} /data /data-work`);
    expect(run).toContain("chmod 0700 /data");
    expect(run).toContain("chmod 0711 /data-work");
  });

  test("tini is PID 1 and starts the copied binary; the default command is a valid `porpoise all`", () => {
    const entrypoint = execForm(only(runtime, "ENTRYPOINT"));
    // Debian's tini package installs /usr/bin/tini.
    expect(entrypoint.slice(0, 2)).toEqual(["/usr/bin/tini", "--"]);
    const binary = entrypoint[2] as string;
    expect(ops(runtime, "COPY")).toContain(`--from=build /out/porpoise ${binary}`);
    const cmd = execForm(only(runtime, "CMD"));
    const { command, invocation } = resolveContainer(cmd, {});
    expect(command).toBe("all");
    expect(invocation.config.host).toBe("0.0.0.0");
    expect(invocation.config.dataDir).toBe("/data");
    expect(invocation.config.workDir).toBe("/data-work");
    expect(only(runtime, "STOPSIGNAL")).toBe("SIGTERM");
  });

  test("ENV sets only settings porpoise reads; the port it exposes is the default port", () => {
    const names = settingEnvNames("all");
    for (const k of Object.keys(imageEnv())) if (k.startsWith("PORPOISE_")) expect(names).toContain(k);
    expect(only(runtime, "EXPOSE")).toBe(settingByKey.get("port")?.defaultText as string);
    expect(only(runtime, "VOLUME")).toBe('["/data"]');
  });

  test("the health check asks /readyz on the API port, then on the metrics port, with python3 (there is no curl)", () => {
    const cmd = healthcheckCommand();
    expect(cmd[0]).toBe("python3");
    const script = cmd.slice(1).join(" ");
    const path = /\/readyz|\/healthz/.exec(script)?.[0] as string;
    expect(healthPaths).toContain(path);
    expect(script).toContain(`os.environ.get('PORPOISE_PORT') or '${settingByKey.get("port")?.defaultText}'`);
  });

  test("the health check passes against a real `porpoise all` and fails when nothing answers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "porpoise-healthcheck-"));
    // Run as root, porpoise wants the work dir's parents passable by the task user.
    chmodSync(dir, 0o755);
    try {
      await using server = spawn(fromSource(["all", "--port", "0", "--data-dir", join(dir, "data")]));
      const port = (await server.waitFor(/ready on http:\/\/127\.0\.0\.1:(\d+)/, 30_000))[1] as string;
      // Port 1: nothing listens there (a refused connection), so the check moves on or fails.
      const check = (env: Record<string, string>) => run(healthcheckCommand(), { env: cleanEnv(env) });
      expect((await check({ PORPOISE_PORT: port, PORPOISE_METRICS_PORT: "1" })).code).toBe(0);
      expect((await check({ PORPOISE_PORT: "1", PORPOISE_METRICS_PORT: port })).code).toBe(0);
      expect((await check({ PORPOISE_PORT: "1", PORPOISE_METRICS_PORT: "1" })).code).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("OCI labels: title, description, licenses and version match package.json", () => {
    const labels = keyValues(ops(runtime, "LABEL").join(" "));
    for (const k of ["title", "description", "licenses", "version", "revision", "source"]) expect(labels.has(`org.opencontainers.image.${k}`)).toBe(true);
    expect(labels.get("org.opencontainers.image.title")).toBe("porpoise");
    expect(labels.get("org.opencontainers.image.licenses")).toBe(pkg.license);
    expect(labels.get("org.opencontainers.image.version")).toBe("${VERSION}");
    const args = keyValues(ops(runtime, "ARG").join(" "));
    expect(args.get("VERSION")).toBe(pkg.version);
  });
});
