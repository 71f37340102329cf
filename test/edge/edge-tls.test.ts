// An edge worker over HTTPS (issue 13): `porpoise all` serves the gateway with a self-signed
// certificate made here by openssl; the worker trusts it through --ca-cert and runs a task.

import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, fromSource, spawn } from "../integration/cli-process.ts";
import { waitFor } from "../helpers/wait.ts";

const tmp = mkdtempSync(join(tmpdir(), "porpoise-edge-tls-"));
chmodSync(tmp, 0o711);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test("an edge worker trusts a self-signed gateway with --ca-cert and runs a task over HTTPS", async () => {
  const cert = join(tmp, "cert.pem");
  const key = join(tmp, "key.pem");
  const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]);
  expect(made.exitCode).toBe(0);
  const admin = "edge-tls-admin-token-0123456789abcdef0123456789";
  await using server = spawn(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "data"), "--tls-cert", cert, "--tls-key", key, "--admin-token", admin, "--shutdown-timeout", "2"]), { cwd: tmp, env: cleanEnv() });
  const url = (await server.waitFor(/porpoise all ready on (https:\/\/\S+)/, 30_000))[1]!;
  const ca = await Bun.file(cert).text();
  const api = async (path: string, body: unknown) => {
    const res = await fetch(`${url}/api/v1${path}`, { method: "POST", headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" }, body: JSON.stringify(body), tls: { ca } } as RequestInit);
    expect(res.status).toBeLessThan(300);
    return (await res.json()) as Record<string, unknown>;
  };
  const { token } = (await api("/worker-tokens", { name: "tls", groups: ["tls"] })) as { token: string };
  await api("/projects", { name: "etl" });
  await api("/projects/etl/workflows", { name: "tls", tasks: [{ name: "t", type: "shell", workerGroup: "tls", script: "echo over https" }] });
  await using w = spawn(fromSource(["worker", "--gateway", url, "--token", token, "--ca-cert", cert, "--worker-groups", "tls", "--data-dir", join(tmp, "edge"), "--metrics-port", "0"]), { cwd: tmp, env: cleanEnv() });
  await w.waitFor(/edge worker \S+ ready/, 30_000);
  const { id } = (await api("/projects/etl/workflows/tls/run", {})) as { id: number };
  const state = await waitFor("the run to end", async () => {
    const res = await fetch(`${url}/api/v1/workflow-instances/${id}`, { headers: { authorization: `Bearer ${admin}` }, tls: { ca } } as RequestInit);
    const i = (await res.json()) as { state: string };
    return ["SUCCESS", "FAILURE", "STOP"].includes(i.state) ? i.state : null;
  }, 30_000, 50);
  expect(state).toBe("SUCCESS");
}, 60_000);
