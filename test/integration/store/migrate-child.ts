// Spawned twice at once by migrations.test.ts: says "ready", waits for "go" on stdin, then
// migrates the database given as argv[2], checks the store is ready, and prints what it applied.
import { migrateDatabase, openStore } from "../../../src/store/open.ts";

const url = process.argv[2]!;
process.stdout.write("ready\n");
const reader = Bun.stdin.stream().getReader();
let input = "";
while (!input.includes("go")) {
  const { value, done } = await reader.read();
  if (done) process.exit(3);
  input += new TextDecoder().decode(value);
}
const { applied } = await migrateDatabase(url);
const store = await openStore({ url });
await store.ready();
await store.close();
process.stdout.write(`${JSON.stringify(applied)}\n`);
process.exit(0);
