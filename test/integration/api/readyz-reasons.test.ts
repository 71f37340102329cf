// /readyz names every reason a process is not ready, on both dialects: migrations pending (a
// store opened without them), a data dir that takes no writes, both at once; and a ready store.
// The API's /readyz and the master/worker listener answer from the same checks (api/readiness.ts).

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../../src/api/app.ts";
import { notReadyReasons, storeCheck } from "../../../src/api/readiness.ts";
import { silentLogger } from "../../../src/core/log.ts";
import { dataDirCheck } from "../../../src/modes/data-dir-check.ts";
import { openStore } from "../../../src/store/open.ts";
import { freshDatabaseUrl, freshStore } from "../../helpers/stores.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-readyz-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// A data dir that is a file: every write under it fails (ENOTDIR), even for root.
const notADir = join(tmp, "not-a-dir");
writeFileSync(notADir, "");

for (const dialect of ["sqlite", "postgres"] as const) {
  describe(`/readyz reasons on ${dialect}`, () => {
    test("migrations pending and an unusable data dir are both named, each with its path", async () => {
      await using db = await freshDatabaseUrl(dialect);
      const store = await openStore({ url: db.url, migrate: false });
      try {
        const app = createApp({ store, log: silentLogger, dataDirCheck: dataDirCheck(notADir) });
        const res = await app.request("/readyz");
        expect(res.status).toBe(503);
        const body = (await res.json()) as { error: { code: string; message: string; details: { path: string; message: string }[] } };
        expect(body.error.code).toBe("NOT_READY");
        expect(body.error.details).toEqual([
          { path: "store", message: expect.stringMatching(/^migrations pending: .*lacks migrations? 0001_.*run `porpoise migrate`/) },
          { path: "dataDir", message: expect.stringContaining(`data dir not usable: ${notADir}`) },
        ]);
        expect(body.error.message).toStartWith("not ready: migrations pending");
      } finally {
        await store.close();
      }
    });

    test("a migrated store and a writable data dir: ready; the same checks answer the listener's /readyz", async () => {
      await using store = await freshStore(dialect);
      const app = createApp({ store, log: silentLogger, dataDirCheck: dataDirCheck(tmp) });
      const res = await app.request("/readyz");
      expect(res.status).toBe(200);
      expect(await notReadyReasons([storeCheck(() => store.ready()), { name: "dataDir", check: dataDirCheck(tmp) }])).toEqual([]);
      // A check that throws names its error; one that hangs is cut off with a reason.
      expect(await notReadyReasons([{ name: "dataDir", check: () => Promise.reject(new Error("boom")) }])).toEqual([{ path: "dataDir", message: "boom" }]);
    });
  });
}
