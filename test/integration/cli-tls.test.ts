// HTTPS (--tls-cert / --tls-key) with a self-signed certificate made here by openssl, a real
// HTTPS request, the CLI client trusting it through --ca-cert, and the one warning line when
// plain HTTP listens beyond loopback.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromSource, run, spawn } from "./cli-process.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-tls-"));
// Task users (porpoise runs tasks as nobody when root) must pass through to the work dir, a sibling of the data dir.
chmodSync(tmp, 0o711);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cert = join(tmp, "cert.pem");
const key = join(tmp, "key.pem");
const made = Bun.spawnSync([
  "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
  "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
]);
if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);

const READY = /porpoise all ready on (https?:\/\/127\.0\.0\.1:\d+)/;
const PLAIN_WARNING = "without TLS";

describe("TLS", () => {
  test("--tls-cert/--tls-key serve HTTPS; clients trust it with the CA; the CLI works with --ca-cert", async () => {
    await using p = spawn(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "https"), "--tls-cert", cert, "--tls-key", key]), { cwd: tmp });
    const url = (await p.waitFor(READY))[1] as string;
    // No terminal attached: the first-start token is only in the data dir's admin-token file.
    const token = (await Bun.file(join(tmp, "https", "admin-token")).text()).trim();
    expect(url).toStartWith("https://");
    const ca = await Bun.file(cert).text();
    const ready = await fetch(`${url}/readyz`, { tls: { ca } } as RequestInit);
    expect(ready.status).toBe(200);
    // Without the CA the certificate is not trusted; plain HTTP to the port gets no answer.
    await expect(fetch(`${url}/readyz`)).rejects.toThrow();
    await expect(fetch(`${url.replace("https", "http")}/readyz`)).rejects.toThrow();

    const trusted = await run(fromSource(["status", "424242", "--server", url as string, "--token", token, "--ca-cert", cert]), { cwd: tmp });
    expect(trusted.stderr).toContain("424242");
    expect(trusted.stderr).not.toContain("cannot reach");
    const untrusted = await run(fromSource(["status", "424242", "--server", url as string, "--token", token]), { cwd: tmp });
    expect(untrusted.stderr).toContain("cannot reach porpoise");
    const badCa = await run(fromSource(["status", "1", "--server", url as string, "--token", token, "--ca-cert", key]), { cwd: tmp });
    expect(badCa.code).toBe(2);
    expect(badCa.stderr).toContain("holds no PEM certificate");
    expect(p.stderr()).not.toContain(PLAIN_WARNING);
  });

  test("plain HTTP beyond loopback logs one warning; on loopback it does not", async () => {
    {
      await using open = spawn(fromSource(["all", "--port", "0", "--host", "0.0.0.0", "--data-dir", join(tmp, "open")]), { cwd: tmp });
      await open.waitFor(/porpoise all ready on/);
      expect(open.stderr().split(PLAIN_WARNING).length - 1).toBe(1);
      expect(open.stderr()).toContain("--tls-cert and --tls-key");
    }
    await using local = spawn(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "local")]), { cwd: tmp });
    await local.waitFor(READY);
    expect(local.stderr()).not.toContain(PLAIN_WARNING);
  });

  test("a missing key file or a key that is not PEM is refused at start, naming the files", async () => {
    const missing = await run(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "bad1"), "--tls-cert", cert, "--tls-key", join(tmp, "nope.pem")]), { cwd: tmp });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("nope.pem");
    const onlyCert = await run(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "bad2"), "--tls-cert", cert]), { cwd: tmp });
    expect(onlyCert.code).toBe(2);
    expect(onlyCert.stderr).toContain("--tls-key as well");
    const notPem = await run(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "bad3"), "--tls-cert", cert, "--tls-key", cert]), { cwd: tmp });
    expect(notPem.code).not.toBe(0);
    expect(notPem.stderr).toContain("cannot serve HTTPS");
  });
});
