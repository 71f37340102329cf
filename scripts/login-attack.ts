// Real-login latency while one client guesses passwords (issue 9 item 4).
//
//   bun scripts/login-attack.ts [path/to/src/main.ts]
//
// Starts `porpoise all` on a temp data dir with an admin password, logs in once as the real user
// (from its own client address), then runs ATTACKERS concurrent loops of wrong-password logins
// for "admin" from one other client while the real user logs in REAL times in a row. Client
// addresses are told apart through X-Forwarded-For from a trusted proxy (127.0.0.1) when the
// server supports --trusted-proxies; a server without it sees every request from 127.0.0.1.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const main = resolve(process.argv[2] ?? "src/main.ts");
const ATTACKERS = 8;
const REAL = 20;
const password = "real-admin-password";
const dataDir = mkdtempSync(join(tmpdir(), "porpoise-login-bench-"));
const withProxyFlag = (await Bun.$`${process.execPath} ${main} all --help`.quiet().nothrow()).stdout.toString().includes("--trusted-proxies");
const proc = Bun.spawn(
  [process.execPath, main, "all", "--port", "0", "--data-dir", dataDir, ...(withProxyFlag ? ["--trusted-proxies", "127.0.0.1"] : [])],
  { env: { ...process.env, PORPOISE_ADMIN_PASSWORD: password }, stderr: "pipe", stdout: "pipe" },
);
let base = "";
const decoder = new TextDecoder();
for await (const chunk of proc.stderr) {
  const m = /ready on (http:\/\/\S+)/.exec(decoder.decode(chunk));
  if (m) {
    base = m[1]!;
    break;
  }
}

async function login(pw: string, client: string): Promise<number> {
  const res = await fetch(`${base}/api/v1/login`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": client },
    body: JSON.stringify({ username: "admin", password: pw }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function realLogins(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < REAL; i++) {
    const t0 = performance.now();
    const status = await login(password, "198.51.100.1");
    times.push(performance.now() - t0);
    if (status !== 200) throw new Error(`real login got ${status}`);
  }
  return times.sort((a, b) => a - b);
}

const fmt = (t: number[]) => `p50 ${t[Math.floor(t.length / 2)]!.toFixed(0)} ms, max ${t.at(-1)!.toFixed(0)} ms`;
try {
  const quiet = await realLogins();
  let stop = false;
  let guesses = 0;
  const statuses: Record<number, number> = {};
  const attack = Array.from({ length: ATTACKERS }, async () => {
    while (!stop) {
      const s = await login("wrong-password", "203.0.113.7");
      statuses[s] = (statuses[s] ?? 0) + 1;
      guesses++;
    }
  });
  const t0 = performance.now();
  const during = await realLogins();
  stop = true;
  await Promise.all(attack);
  const secs = (performance.now() - t0) / 1000;
  console.log(`server: ${main}${withProxyFlag ? " (--trusted-proxies 127.0.0.1)" : ""}`);
  console.log(`real login, no attack:     ${fmt(quiet)}`);
  console.log(`real login, during attack: ${fmt(during)}`);
  console.log(`attack: ${guesses} guesses in ${secs.toFixed(1)} s (${ATTACKERS} concurrent), statuses ${JSON.stringify(statuses)}`);
} finally {
  proc.kill();
  await proc.exited;
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(`${dataDir}-work`, { recursive: true, force: true }); // the default --work-dir beside it
}
