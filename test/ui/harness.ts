// One `porpoise all` (from source, on SQLite in a temp dir) and one headless Chromium per UI
// test file, driven with playwright-core. Debian's Chromium (`apt-get install chromium`;
// .ci/run installs it when missing). Screenshots go to test-artifacts/ui/ (gitignored).

import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { buildUi } from "../../scripts/build-ui.ts";
import { cleanEnv, fromSource, spawn, type Spawned } from "../integration/cli-process.ts";

export const CHROMIUM = "/usr/bin/chromium";
export const ADMIN_TOKEN = "ui-test-admin-token-0123456789abcdefghijklmnop";
export const ADMIN_PASSWORD = "correct horse battery staple";
export const ARTIFACTS = resolve(import.meta.dir, "../../test-artifacts/ui");

export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage", "--disable-gpu"];

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

export interface UiServer {
  url: string;
  /** The SQLite file of the server's store (tests read stored rows from it, read-only). */
  dbPath: string;
  server: Spawned;
  browser: Browser;
  /** The admin's API calls (setup and checks that bypass the page). */
  call(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: any }>;
  /** A fresh browser context (own storage) at 1280×800 unless told otherwise. */
  context(opts?: { width?: number; height?: number; dark?: boolean }): Promise<BrowserContext>;
  /** A new page that is logged in with `token` (stored as the UI stores it). */
  pageAs(token: string, opts?: { width?: number; height?: number; dark?: boolean }): Promise<Page>;
  shot(page: Page, name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startUiServer(): Promise<UiServer> {
  await buildUi({ ifStale: true });
  const tmp = mkdtempSync(join(tmpdir(), "porpoise-ui-"));
  // Task users (nobody, when tests run as root) must be able to enter the work dir under it.
  chmodSync(tmp, 0o711);
  const server = spawn(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "data")]), {
    cwd: tmp,
    env: cleanEnv({ PORPOISE_ADMIN_TOKEN: ADMIN_TOKEN, PORPOISE_ADMIN_PASSWORD: ADMIN_PASSWORD }),
  });
  let browser: Browser | null = null;
  try {
    const url = (await server.waitFor(/porpoise all ready on (http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1] as string;
    browser = await launchChromium();
    const b = browser;
    mkdirSync(ARTIFACTS, { recursive: true });
    const call = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": typeof body === "string" ? "application/yaml" : "application/json" }) },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : null };
    };
    const context = (opts: { width?: number; height?: number; dark?: boolean } = {}) =>
      b.newContext({ baseURL: url, viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 }, colorScheme: opts.dark ? "dark" : "light" });
    return {
      url,
      dbPath: join(tmp, "data", "porpoise.db"),
      server,
      browser: b,
      call,
      context,
      async pageAs(token, opts) {
        const ctx = await context(opts);
        await ctx.addInitScript((t: string) => localStorage.setItem("porpoise.token", t), token);
        return ctx.newPage();
      },
      async shot(page, name) {
        await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
      },
      async close() {
        await b.close().catch(() => {});
        server.signal("SIGTERM");
        await server.exit(20_000).catch(() => {});
        rmSync(tmp, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await browser?.close().catch(() => {});
    server.signal("SIGKILL");
    await server.exit().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** A user with a password and an API token for it, member of `project` with `role`. */
export async function userWithRole(ui: UiServer, name: string, project: string, role: "viewer" | "developer" | "owner"): Promise<string> {
  const password = `${name} has a long password`;
  expectStatus(await ui.call("POST", "/users", { name, password, isAdmin: false }), 201);
  expectStatus(await ui.call("POST", `/projects/${project}/members`, { user: name, role }), 201);
  const login = await fetch(`${ui.url}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: name, password }) });
  return ((await login.json()) as { token: string }).token;
}

export function expectStatus(r: { status: number; json: any }, status: number): void {
  if (r.status !== status) throw new Error(`expected HTTP ${status}, got ${r.status}: ${JSON.stringify(r.json)}`);
}
