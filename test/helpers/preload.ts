// bunfig.toml preloads this once per `bun test` run. A hook registered here is global to the
// run, so this afterAll fires once, after the last test file.
import { afterAll } from "bun:test";
import { ensureTestServices, stopTestServices } from "./services.ts";
import { dropSpareDatabase } from "./stores.ts";

await ensureTestServices();
afterAll(async () => {
  await dropSpareDatabase().catch(() => {});
  await stopTestServices();
});
