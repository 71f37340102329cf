// What the deployment tests read: the Dockerfile's stages, and how porpoise itself would take a
// container's command line and environment (src/config.ts resolveConfig, the same code the
// binary runs at start), so a deployment file that passes an unknown flag, a setting the mode
// ignores or a bad value fails here rather than in someone's cluster.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { envName, modeKeys, type ConfigCommand } from "../../src/config/settings.ts";
import { type Invocation, resolveConfig } from "../../src/config.ts";
import { healthRoutes } from "../../src/api/routes/health.ts";

export const ROOT = join(import.meta.dir, "../..");

export function readRepoFile(path: string): string {
  return readFileSync(join(ROOT, path), "utf8");
}

export interface DockerInstruction {
  op: string;
  args: string;
}

export interface DockerStage {
  from: string;
  name: string | null;
  platform: string | null;
  instructions: DockerInstruction[];
}

/** Stages of a Dockerfile: continuation lines joined, comments dropped. */
export function parseDockerfile(text: string): DockerStage[] {
  const logical: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (current === "" && (line.trim() === "" || line.trimStart().startsWith("#"))) continue;
    if (current !== "" && line.trimStart().startsWith("#")) continue;
    if (line.endsWith("\\")) {
      current += line.slice(0, -1) + " ";
      continue;
    }
    logical.push((current + line).trim());
    current = "";
  }
  const stages: DockerStage[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/s.exec(l) as RegExpExecArray;
    const op = (m[1] as string).toUpperCase();
    const args = m[2] as string;
    if (op === "FROM") {
      const f = /^(?:--platform=(\S+)\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`cannot read FROM ${args}`);
      stages.push({ from: f[2] as string, platform: f[1] ?? null, name: f[3] ?? null, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) {
      if (op === "ARG") continue;
      throw new Error(`${op} before the first FROM`);
    }
    stage.instructions.push({ op, args });
  }
  return stages;
}

/** `["a", "b"]` (exec form) as a list. */
export function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === "string")) throw new Error(`not an exec-form list: ${args}`);
  return parsed;
}

/** `KEY=value KEY2="v 2"` of ENV / LABEL / ARG. */
export function keyValues(args: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of args.matchAll(/([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const v = m[2] as string;
    out.set(m[1] as string, v.startsWith('"') ? (JSON.parse(v) as string) : v);
  }
  return out;
}

export function runtimeStage(): DockerStage {
  const stage = parseDockerfile(readRepoFile("Dockerfile")).at(-1);
  if (!stage) throw new Error("Dockerfile has no stage");
  return stage;
}

/** The image's ENV, which a container's own environment overrides. */
export function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of runtimeStage().instructions) if (i.op === "ENV") for (const [k, v] of keyValues(i.args)) env[k] = v;
  return env;
}

/** Paths the health routes serve (/healthz, /readyz). */
export const healthPaths: ReadonlySet<string> = new Set(healthRoutes.map((r) => r.path));

export type ServeCommand = Exclude<ConfigCommand, "run" | "status" | "logs">;

/** The PORPOISE_* variables mode `command` reads as settings. */
export function settingEnvNames(command: ServeCommand): Set<string> {
  return new Set(modeKeys[command].map((k) => envName(k)));
}

export interface ResolvedContainer {
  command: ServeCommand;
  invocation: Extract<Invocation, { config: unknown }>;
}

/**
 * Resolves a container as porpoise would: `argv` after the entrypoint, the image's ENV overridden
 * by `env`. Throws porpoise's own ConfigError for a bad flag or value, and an error naming every
 * PORPOISE_* variable of `env` the mode does not read (it would be silently ignored).
 */
export function resolveContainer(argv: readonly string[], env: Record<string, string>): ResolvedContainer {
  const invocation = resolveConfig({ argv, env: { ...imageEnv(), ...env }, readFile: (p) => { throw new Error(`no files in this test: ${p}`); }, cwd: "/data", cpuCount: 2 });
  if (!("config" in invocation)) throw new Error(`${argv.join(" ")} is not a serving mode (${invocation.command})`);
  const command = invocation.command as ServeCommand;
  const known = settingEnvNames(command);
  const ignored = Object.keys(env).filter((k) => k.startsWith("PORPOISE_") && !known.has(k));
  if (ignored.length > 0) throw new Error(`porpoise ${command} does not read ${ignored.join(", ")}: it accepts ${[...known].join(", ")}`);
  return { command, invocation: invocation as ResolvedContainer["invocation"] };
}
