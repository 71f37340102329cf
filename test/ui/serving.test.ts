// How the api serves the web UI (src/api/ui-assets.ts) from the build of scripts/build-ui.ts:
// hashed assets cached for a year and gzipped, index.html (no-cache, CSP) for client routes,
// the API's JSON 404s untouched, and the first-load budget of issue 12 (≤ 80 KB gzipped).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { createApp } from "../../src/api/app.ts";
import { loadUiAssets, type UiAssets } from "../../src/api/ui-assets.ts";
import { silentLogger } from "../../src/core/log.ts";
import { FIRST_LOAD_BUDGET_GZ, buildUi } from "../../scripts/build-ui.ts";
import { freshStore, type TestStore } from "../helpers/stores.ts";

let store: TestStore;
let ui: UiAssets;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  await buildUi({ ifStale: true });
  store = await freshStore("sqlite");
  ui = (await loadUiAssets())!;
  app = createApp({ store, log: silentLogger, ui });
});
afterAll(async () => {
  await store[Symbol.asyncDispose]();
});

describe("web UI serving", () => {
  test("client routes get index.html, not cached, with a CSP; it names the hashed assets", async () => {
    for (const path of ["/", "/login", "/projects/a/workflows/b/grid", "/projects/a/runs/7?task=3"]) {
      const res = await app.request(path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
      const html = await res.text();
      expect(html).toMatch(/<script type="module" src="\/assets\/main-[a-z0-9]+\.js">/);
    }
  });

  test("assets: immutable for a year, gzip when asked, the same bytes either way; unknown ones are a JSON 404", async () => {
    const html = await (await app.request("/")).text();
    const js = /src="(\/assets\/main-[a-z0-9]+\.js)"/.exec(html)![1]!;
    const plain = await app.request(js);
    expect(plain.status).toBe(200);
    expect(plain.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(plain.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(plain.headers.get("content-encoding")).toBeNull();
    const body = new Uint8Array(await plain.arrayBuffer());
    const gz = await app.request(js, { headers: { "accept-encoding": "gzip, deflate, br" } });
    expect(gz.headers.get("content-encoding")).toBe("gzip");
    // Read raw: Bun's fetch would not undo an encoding for app.request, so unzip by hand.
    expect(new Uint8Array(gunzipSync(new Uint8Array(await gz.arrayBuffer())))).toEqual(body);
    const missing = await app.request("/assets/main-00000000.js");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
  });

  test("API paths keep their JSON 404s; writes to UI paths are not served the page", async () => {
    for (const path of ["/api/v1/nope", "/api/v2/projects", "/metrics"]) {
      const res = await app.request(path);
      expect({ path, status: res.status, type: res.headers.get("content-type") }).toEqual({ path, status: 404, type: "application/json" });
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    }
    const post = await app.request("/projects/a", { method: "POST" });
    expect(post.status).toBe(404);
    expect(((await post.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
  });

  test(`first load (main JS + CSS) is within ${FIRST_LOAD_BUDGET_GZ / 1024} KB gzipped; dagre is only in the layout worker`, async () => {
    expect(ui.firstLoadGzBytes).toBeGreaterThan(0);
    expect(ui.firstLoadGzBytes).toBeLessThanOrEqual(FIRST_LOAD_BUDGET_GZ);
    const html = await (await app.request("/")).text();
    const firstLoad = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    let gz = 0;
    for (const path of firstLoad) gz += ui.assets.get(path)!.gzip.length;
    expect(gz).toBeLessThanOrEqual(FIRST_LOAD_BUDGET_GZ);
    const worker = [...ui.assets.keys()].find((k) => k.includes("layout-worker"));
    expect(worker).toBeDefined();
    expect(firstLoad).not.toContain(worker!);
  });

  test("without a build, / says how to build the UI and the API is unaffected", async () => {
    const bare = createApp({ store, log: silentLogger, ui: null });
    const res = await bare.request("/projects/a");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("npm run build:ui");
    expect((await bare.request("/healthz")).status).toBe(200);
  });
});
