// Issue 9 items 1 and 3, as an attacker would try them: a real `porpoise all` started as root,
// real OS users (created here with useradd, removed after), a developer's task that tries to
// read every secret of porpoise's data dir and process, and the task environment.
//
// Needs root (useradd, and porpoise must be root to switch users); elsewhere the file is
// skipped with a printed reason. The not-root warning is covered in worker/run-as.test.ts.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, fromSource, run, type Spawned, spawn } from "./cli-process.ts";

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log("task-isolation.test.ts skipped: it needs root (useradd, and porpoise switching users)");
const suite = isRoot ? describe : describe.skip;

const TOKEN = "isolation-admin-token-0123456789abcdefghij";
const READY = /porpoise all ready on (http:\/\/127\.0\.0\.1:\d+)/;
const tag = Math.random().toString(36).slice(2, 7);
const userA = `ppa${tag}`;
const userB = `ppb${tag}`;
const uids: Record<string, number> = {};

const tmp = mkdtempSync(join(tmpdir(), "porpoise-isolation-"));
// Task users must be able to pass through to the work dir, a sibling of the data dir.
chmodSync(tmp, 0o711);

interface Reply {
  status: number;
  body: any;
}
type Call = (method: string, path: string, body?: unknown, token?: string) => Promise<Reply>;

function client(base: string): Call {
  return async (method, path, body, token = TOKEN) => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

async function ok(reply: Promise<Reply>, status = 200): Promise<any> {
  const r = await reply;
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

interface Ended {
  id: number;
  state: string;
  tasks: { id: number; taskName: string; state: string; message: string | null }[];
}

/** Runs a stored workflow and waits for its end (a condition, polled). */
async function runToEnd(call: Call, project: string, workflow: string, params: Record<string, string> = {}, token = TOKEN): Promise<Ended> {
  const { id } = await ok(call("POST", `/projects/${project}/workflows/${workflow}/run`, { params }, token), 201);
  for (;;) {
    const view = await ok(call("GET", `/workflow-instances/${id}`));
    if (["SUCCESS", "FAILURE", "STOP", "PAUSE"].includes(view.state)) return view;
    await Bun.sleep(20);
  }
}

async function logOf(call: Call, taskInstanceId: number): Promise<string> {
  return (await ok(call("GET", `/task-instances/${taskInstanceId}/log?offset=0`))).text;
}

async function shellWorkflow(call: Call, project: string, name: string, script: string, token = TOKEN): Promise<void> {
  await ok(call("POST", `/projects/${project}/workflows`, { name, tasks: [{ name: "t", type: "shell", script }] }, token), 201);
}

async function startAll(dataDir: string, flags: string[] = [], env: Record<string, string> = {}): Promise<{ p: Spawned; call: Call }> {
  const p = spawn(fromSource(["all", "--port", "0", "--data-dir", dataDir, ...flags]), { cwd: tmp, env: cleanEnv({ PORPOISE_ADMIN_TOKEN: TOKEN, ...env }) });
  const [, url] = await p.waitFor(READY);
  return { p, call: client(url as string) };
}

beforeAll(async () => {
  if (!isRoot) return;
  for (const user of [userA, userB]) {
    const made = await run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user]);
    if (made.code !== 0) throw new Error(`useradd ${user} failed: ${made.stderr}`);
    uids[user] = Number((await run(["id", "-u", user])).stdout.trim());
  }
}, 30_000);

afterAll(async () => {
  if (isRoot) for (const user of [userA, userB]) await run(["userdel", user]);
  rmSync(tmp, { recursive: true, force: true });
});

suite("tasks run as their project's tenant and reach none of porpoise's secrets", () => {
  const dataDir = join(tmp, "data");
  const workDir = `${dataDir}-work`;
  let server: Spawned;
  let call: Call;
  let devToken: string;

  beforeAll(async () => {
    // An operator's config file, kept private as the README says.
    mkdirSync(join(tmp, "conf"), { mode: 0o700 });
    writeFileSync(join(tmp, "conf", "porpoise.yaml"), `adminPassword: config-file-password-canary\n`, { mode: 0o600 });
    ({ p: server, call } = await startAll(dataDir, ["--config", join(tmp, "conf", "porpoise.yaml"), "--task-env-pass", "PASS_ME"], { PASS_ME: "from-the-operator" }));
    for (const [name, tenant] of [["alpha", userA], ["beta", userB], ["plain", null], ["ghost", "ppnosuchuser"], ["rooted", "root"]] as const) {
      await ok(call("POST", "/projects", { name }), 201);
      if (tenant !== null) expect((await ok(call("PUT", `/projects/${name}/tenant`, { tenant }))).tenant).toBe(tenant);
    }
    await ok(call("POST", "/users", { name: "dev", password: "dev-password-123" }), 201);
    await ok(call("POST", "/projects/alpha/members", { user: "dev", role: "developer" }), 201);
    devToken = (await ok(call("POST", "/login", { username: "dev", password: "dev-password-123" }))).token;
  }, 60_000);

  afterAll(async () => {
    server?.signal("SIGTERM");
    await server?.exit();
  });

  test("the data dir and its files are 0700/0600 and the work dir 0711", async () => {
    const mode = (p: string) => (Bun.spawnSync(["stat", "-c", "%a", p]).stdout.toString().trim());
    expect(mode(dataDir)).toBe("700");
    for (const f of ["admin-token", "secret-key", "porpoise.db"]) expect(mode(join(dataDir, f))).toBe("600");
    expect(mode(workDir)).toBe("711");
  });

  test("a developer cannot set a tenant through any route: strict schemas and an admin-only route", async () => {
    await ok(call("POST", "/projects", { name: "devs-own" }, devToken), 201);
    const create = await call("POST", "/projects", { name: "devs-other", tenant: "root" }, devToken);
    expect(create.status).toBe(400);
    expect(JSON.stringify(create.body)).toContain("tenant");
    const patch = await call("PATCH", "/projects/devs-own", { tenant: "root" }, devToken);
    expect(patch.status).toBe(400);
    expect(JSON.stringify(patch.body)).toContain("tenant");
    expect((await call("PUT", "/projects/devs-own/tenant", { tenant: "root" }, devToken)).status).toBe(403);
    expect((await call("PUT", "/projects/alpha/tenant", { tenant: "root" }, devToken)).status).toBe(403);
    expect((await ok(call("GET", "/projects/alpha", undefined, devToken))).tenant).toBe(userA);
    expect((await call("PUT", "/projects/devs-own/tenant", { tenant: "../etc" })).status).toBe(400);
    // Nor through a workflow definition, a task or a run.
    const inWorkflow = await call("POST", "/projects/devs-own/workflows", { name: "w", tenant: "root", tasks: [{ name: "t", type: "shell", script: "id" }] }, devToken);
    expect(inWorkflow.status).toBe(400);
    const inTask = await call("POST", "/projects/devs-own/workflows", { name: "w", tasks: [{ name: "t", type: "shell", script: "id", tenant: "root" }] }, devToken);
    expect(inTask.status).toBe(400);
    await shellWorkflow(call, "devs-own", "w", "id", devToken);
    expect((await call("POST", "/projects/devs-own/workflows/w/run", { params: {}, tenant: "root" }, devToken)).status).toBe(400);
  });

  test("a developer's task of project A reads nothing of porpoise's or of project B's", async () => {
    // Project B leaves a secret in its work dir and its log.
    await shellWorkflow(call, "beta", "keeps-secrets", 'echo canary-b-secret > "$HOME/secret.txt"; echo canary-b-log-line');
    const b = await runToEnd(call, "beta", "keeps-secrets");
    expect(b.state).toBe("SUCCESS");
    const bTask = b.tasks[0]!;
    const bAttempt = join(workDir, String(b.id), `${bTask.id}-1`);
    const bLog = join(dataDir, "logs", String(b.id), `${bTask.id}-1.log`);
    expect(readFileSync(join(bAttempt, "secret.txt"), "utf8")).toContain("canary-b-secret");

    const pid = server.pid;
    const files = [
      ...["admin-token", "secret-key", "porpoise.db", "porpoise.db-wal", "porpoise.db-shm", "porpoise.lock"].map((f) => join(dataDir, f)),
      bLog,
      join(bAttempt, "secret.txt"),
      join(bAttempt, "script.sh"),
      join(tmp, "conf", "porpoise.yaml"),
      `/proc/${pid}/environ`,
      `/proc/${pid}/maps`,
      `/proc/${pid}/mem`,
      `/proc/${pid}/root${dataDir}/admin-token`,
      `/proc/${pid}/cwd/data/admin-token`,
    ];
    for (const f of files.slice(0, 5)) expect(existsSync(f)).toBe(true);
    const dirs = [dataDir, join(dataDir, "logs"), workDir, join(workDir, String(b.id)), bAttempt, `/proc/${pid}/fd`, `/proc/${pid}/map_files`, `/proc/${pid}/cwd`, `/proc/${pid}/root${dataDir}`];
    const script = [
      'for f in $files; do if head -c 1 "$f" >/dev/null 2>&1; then echo "READ $f"; else echo "DENIED $f"; fi; done',
      'for d in $dirs; do if ls "$d" >/dev/null 2>&1; then echo "LISTED $d"; else echo "DENIED $d"; fi; done',
      // Whatever were readable would land in the log, where the checks below look for it.
      'for f in $files; do head -c 300 "$f" 2>/dev/null | tr -c "[:print:]\\n" "?"; echo; done; for d in $dirs; do ls -la "$d" 2>/dev/null | head -20; done',
      'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"',
      "ls -l /proc/self/fd/ | sed 's/^/fd: /'",
      `kill -0 ${pid} 2>/dev/null && echo "SIGNALLED porpoise" || echo "cannot signal porpoise"`,
    ].join("\n");
    await shellWorkflow(call, "alpha", "snoop", script, devToken);
    const a = await runToEnd(call, "alpha", "snoop", { files: files.join(" "), dirs: dirs.join(" ") }, devToken);
    const log = await logOf(call, a.tasks[0]!.id);
    expect(a.state).toBe("SUCCESS");

    const verdicts = log.split("\n").flatMap((l) => /\[out\] ((READ|LISTED|DENIED) .*)$/.exec(l)?.[1] ?? []);
    expect(verdicts).toEqual([...files, ...dirs].map((path) => `DENIED ${path}`));
    expect(log).toContain("cannot signal porpoise");
    expect(log).toContain(`uid=${uids[userA]} gid=`);
    expect(log).not.toMatch(/groups=.*\b0\b/);
    const secretKey = readFileSync(join(dataDir, "secret-key"), "utf8").trim();
    const leaked = [TOKEN, secretKey, "canary-b-secret", "canary-b-log-line", "config-file-password-canary", "PORPOISE_ADMIN_TOKEN", "SQLite format"].filter((s) => log.includes(s));
    expect(leaked).toEqual([]);
    // No descriptor of porpoise's (the database, the log files) is inherited by the task.
    const fds = log.split("\n").filter((l) => l.includes("[out] fd: ") && l.includes("->"));
    expect(fds.length).toBeGreaterThan(0);
    for (const fd of fds) expect(fd).not.toContain(`${dataDir}/`);
  });

  test("a project without a tenant runs as the default task user (nobody); python tasks switch too", async () => {
    await shellWorkflow(call, "plain", "who", 'echo "user=$(id -un) uid=$(id -u)"');
    const r = await runToEnd(call, "plain", "who");
    expect(r.state).toBe("SUCCESS");
    expect(await logOf(call, r.tasks[0]!.id)).toContain("user=nobody uid=65534");
    const py = { name: "py", tasks: [{ name: "t", type: "python", script: 'import os\nprint("py-uid=%d" % os.getuid())\nopen(os.path.join(os.environ["HOME"], "x"), "w").write("ok")' }] };
    await ok(call("POST", "/projects/alpha/workflows", py), 201);
    const p = await runToEnd(call, "alpha", "py");
    expect(p.state).toBe("SUCCESS");
    expect(await logOf(call, p.tasks[0]!.id)).toContain(`py-uid=${uids[userA]}`);
  });

  test("an unknown tenant fails the attempt naming the user; root is refused without --allow-root-tasks", async () => {
    await shellWorkflow(call, "ghost", "who", "id");
    const ghost = await runToEnd(call, "ghost", "who");
    expect(ghost.state).toBe("FAILURE");
    expect(ghost.tasks[0]!.message).toContain('tenant "ppnosuchuser" is not an OS user');
    await shellWorkflow(call, "rooted", "who", "id");
    const rooted = await runToEnd(call, "rooted", "who");
    expect(rooted.state).toBe("FAILURE");
    expect(rooted.tasks[0]!.message).toContain("--allow-root-tasks");
    expect(await logOf(call, rooted.tasks[0]!.id)).not.toContain("uid=0");
  });

  test("tasks get a documented environment; params and upstream OUT values cannot set PATH, HOME or loader variables", async () => {
    const definition = {
      name: "env",
      tasks: [
        { name: "up", type: "shell", script: "echo '${setValue(PATH=/evil-upstream)}' '${setValue(LD_PRELOAD=/evil.so)}'" },
        {
          name: "down",
          type: "shell",
          deps: ["up"],
          env: { FROM_TASK: "task-${region}" },
          script: [
            'for v in PATH HOME USER LOGNAME SHELL LANG TMPDIR PASS_ME FROM_TASK region LD_PRELOAD BASH_ENV; do echo "$v=${!v}"; done',
            'touch "$HOME/.probe" && echo home-writable',
            'touch "$TMPDIR/probe" && echo tmpdir-writable',
            'python3 -c "import tempfile; print(\'python-tmp=\' + tempfile.gettempdir())"',
            'if command -v git >/dev/null; then git config --global user.name porpoise && echo "git-global=$(git config --global user.name)"; else echo "git-global=porpoise"; fi',
          ].join("\n"),
        },
      ],
    };
    await ok(call("POST", "/projects/plain/workflows", definition), 201);
    const r = await runToEnd(call, "plain", "env", { PATH: "/evil-param", HOME: "/evil-home", BASH_ENV: "/evil.sh", region: "eu" });
    expect(r.state).toBe("SUCCESS");
    const down = r.tasks.find((t) => t.taskName === "down")!;
    const log = await logOf(call, down.id);
    const home = join(workDir, String(r.id), `${down.id}-1`);
    // The API shows the attempt's working directory where the worker made it (--work-dir).
    expect((down as unknown as { params: Record<string, string> }).params["system.task.execute.path"]).toBe(home);
    const out = (name: string) => log.match(new RegExp(`\\[out\\] ${name}=(.*)`))?.[1];
    expect(out("PATH")).toBe("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    expect(out("HOME")).toBe(home);
    expect(out("USER")).toBe("nobody");
    expect(out("LOGNAME")).toBe("nobody");
    expect(out("SHELL")).toBe("/bin/bash");
    expect(out("LANG")).toBe("C.UTF-8");
    expect(out("TMPDIR")).toBe(join(home, "tmp"));
    expect(out("python-tmp")).toBe(join(home, "tmp"));
    expect(out("PASS_ME")).toBe("from-the-operator");
    expect(out("FROM_TASK")).toBe("task-eu");
    expect(out("region")).toBe("eu");
    expect(out("LD_PRELOAD")).toBe("");
    expect(out("BASH_ENV")).toBe("");
    expect(out("git-global")).toBe("porpoise");
    expect(log).toContain("home-writable");
    expect(log).toContain("tmpdir-writable");
    for (const p of ["PATH", "HOME", "BASH_ENV", "LD_PRELOAD"]) expect(log).toContain(`param "${p}" not exported to the environment: ${p} is reserved`);
  });

  test("a reserved name in a task's env is refused at save time, naming the field", async () => {
    const bad = await call("POST", "/projects/plain/workflows", { name: "bad-env", tasks: [{ name: "t", type: "shell", script: "true", env: { PATH: "/x", LD_PRELOAD: "/y", OK: "1" } }] });
    expect(bad.status).toBe(400);
    const text = JSON.stringify(bad.body);
    expect(text).toContain("tasks.0.env.PATH");
    expect(text).toContain("tasks.0.env.LD_PRELOAD");
    expect(text).not.toContain("tasks.0.env.OK");
  });
});

suite("root tasks and start-up refusals", () => {
  test("--allow-root-tasks lets a root tenant run as uid 0", async () => {
    const { p, call } = await startAll(join(tmp, "root-allowed"), ["--allow-root-tasks"]);
    await using _ = p;
    await ok(call("POST", "/projects", { name: "ops" }), 201);
    await ok(call("PUT", "/projects/ops/tenant", { tenant: "root" }));
    await shellWorkflow(call, "ops", "who", 'echo "uid=$(id -u)"');
    const r = await runToEnd(call, "ops", "who");
    expect(r.state).toBe("SUCCESS");
    expect(await logOf(call, r.tasks[0]!.id)).toContain("uid=0");
  });

  test("--task-user root without --allow-root-tasks refuses to start", async () => {
    const r = await run(fromSource(["all", "--port", "0", "--data-dir", join(tmp, "root-default"), "--task-user", "root"]), { cwd: tmp, env: cleanEnv({ PORPOISE_ADMIN_TOKEN: TOKEN }) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--allow-root-tasks");
  });

  test("a work dir task users cannot reach refuses to start, naming the closed directory", async () => {
    const closed = join(tmp, "closed");
    mkdirSync(closed, { mode: 0o700 });
    const r = await run(fromSource(["all", "--port", "0", "--data-dir", join(closed, "data")]), { cwd: tmp, env: cleanEnv({ PORPOISE_ADMIN_TOKEN: TOKEN }) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${closed} is mode 0700`);
    expect(r.stderr).toContain("--work-dir");
  });
});
