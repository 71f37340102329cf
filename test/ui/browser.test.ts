// The web UI end to end in headless Chromium against one `porpoise all` (issue 12, "Tests that
// must exist"): log in; create a workflow from YAML with a validation error corrected in the
// editor; run it and see the DAG turn green; open a task's live log; stop a running run; a
// viewer sees no control buttons and a forced request is refused; a schedule preview shows the
// right next fire times. Screenshots of the main views go to test-artifacts/ui/.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import type { Page } from "playwright-core";
import { waitFor } from "../helpers/wait.ts";
import { ADMIN_PASSWORD, ADMIN_TOKEN, expectStatus, startUiServer, userWithRole, type UiServer } from "./harness.ts";

let ui: UiServer;
let viewerToken: string;

const SLOW = `name: slow
tasks:
  - name: prepare
    type: shell
    script: echo prepare
  - name: talk
    type: shell
    script: for i in 1 2 3 4 5 6 7 8; do echo line-$i; sleep 0.25; done
    deps: [prepare]
  - name: finish
    type: shell
    script: echo done
    deps: [talk]
`;
const SLEEPER = "name: sleeper\ntasks:\n  - name: wait\n    type: shell\n    script: sleep 60\n";

beforeAll(async () => {
  ui = await startUiServer();
  expectStatus(await ui.call("POST", "/projects", { name: "demo", description: "the UI tests' project" }), 201);
  expectStatus(await ui.call("POST", "/projects/demo/workflows", SLOW), 201);
  expectStatus(await ui.call("POST", "/projects/demo/workflows", SLEEPER), 201);
  viewerToken = await userWithRole(ui, "vera", "demo", "viewer");
});
afterAll(async () => {
  await ui?.close();
});

async function runVia(page: Page): Promise<number> {
  await page.waitForURL(/\/runs\/\d+/);
  return Number(/\/runs\/(\d+)/.exec(page.url())![1]);
}

const nodeState = (page: Page, task: string) => page.locator(`svg[data-testid=dag] g.node[data-task="${task}"]`).getAttribute("data-state");

describe("web UI in Chromium", () => {
  test("log in with a password, then the projects and a project's page; a pasted token works too", async () => {
    const ctx = await ui.context();
    const page = await ctx.newPage();
    await page.goto("/projects/demo");
    await page.getByLabel("User name").fill("admin");
    await page.getByLabel("Password").fill("wrong password");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").getByText("wrong user name or password").waitFor();
    await ui.shot(page, "login-error");
    await page.getByLabel("Password").fill(ADMIN_PASSWORD);
    await page.getByRole("button", { name: "Log in" }).click();
    // Back on the page that was asked for.
    await page.getByRole("heading", { name: "demo" }).waitFor();
    await page.getByRole("link", { name: "slow" }).waitFor();
    expect(page.url()).toEndWith("/projects/demo");
    await ctx.close();

    const ctx2 = await ui.context();
    const p2 = await ctx2.newPage();
    await p2.goto("/");
    await p2.getByRole("tab", { name: "API token" }).click();
    await p2.getByLabel("API token").fill(ADMIN_TOKEN);
    await p2.getByRole("button", { name: "Log in" }).click();
    await p2.getByRole("link", { name: "demo" }).waitFor();
    await ui.shot(p2, "projects");
    await ctx2.close();
  });

  test("create a workflow from YAML: the editor points at the wrong field, the corrected text saves", async () => {
    const page = await ui.pageAs(ADMIN_TOKEN);
    await page.goto("/projects/demo/new-workflow");
    const editor = page.getByLabel("Workflow definition (YAML)");
    await page.getByTestId("check-status").and(page.locator("[data-state=valid]")).waitFor();
    const wrong = "name: etl\ntasks:\n  - name: extract\n    type: shell\n    script: echo extract\n  - name: load\n    type: shell\n    script: echo load\n    deps: [extrct]\n";
    await editor.fill(wrong);
    const status = page.getByTestId("check-status");
    await status.and(page.locator("[data-state=invalid]")).waitFor();
    // The server's error names the field, and the editor can jump to its line.
    await status.getByText("tasks.1.deps").first().waitFor();
    expect(await status.innerText()).toContain("extract");
    expect(await page.getByRole("button", { name: "Create workflow" }).isDisabled()).toBe(true);
    await status.getByRole("button", { name: /Go to line 9 / }).click();
    const selected = await editor.evaluate((ta: { value: string; selectionStart: number; selectionEnd: number }) => ta.value.slice(ta.selectionStart, ta.selectionEnd));
    expect(selected).toBe("    deps: [extrct]");
    await ui.shot(page, "editor-error");
    await editor.fill(wrong.replace("extrct", "extract"));
    await status.and(page.locator("[data-state=valid]")).waitFor();
    await page.getByRole("button", { name: "Create workflow" }).click();
    await page.waitForURL(/\/projects\/demo\/workflows\/etl$/);
    await page.locator('svg[data-testid=dag] g.node[data-task="load"]').waitFor();
    const saved = await ui.call("GET", "/projects/demo/workflows/etl");
    expect(saved.json.definition.tasks[1].deps).toEqual(["extract"]);
    // The layout of a version is kept: after a reload the DAG is drawn without asking the worker.
    await page.reload();
    await page.locator('svg[data-testid=dag] g.node[data-task="load"]').waitFor();
    expect(await page.evaluate(`performance.getEntriesByType("measure").filter((m) => m.name.startsWith("dag-layout")).length`)).toBe(0);
    await page.context().close();
  });

  test("run from the dialog, watch the DAG turn green live, and follow a task's log while it runs", async () => {
    const page = await ui.pageAs(ADMIN_TOKEN);
    await page.goto("/projects/demo/workflows/slow");
    await page.getByRole("button", { name: "Run…" }).click();
    await page.getByRole("form", { name: "run dialog" }).getByLabel("Parameters (one name=value a line)").fill("day=2026-12-01");
    await page.getByRole("button", { name: "Start run" }).click();
    const id = await runVia(page);
    // Live: the talking task is seen running before the whole DAG is green.
    await page.locator('svg[data-testid=dag] g.node[data-task="talk"][data-state=RUNNING_EXECUTION]').waitFor({ timeout: 20_000 });
    await page.getByRole("button", { name: "talk", exact: true }).click();
    const log = page.getByTestId("log");
    await log.getByText("line-1").waitFor();
    const inst = await ui.call("GET", `/workflow-instances/${id}`);
    expect(inst.json.state).toBe("RUNNING_EXECUTION");
    await ui.shot(page, "run-running");
    for (const task of ["prepare", "talk", "finish"]) {
      await page.locator(`svg[data-testid=dag] g.node[data-task="${task}"][data-state=SUCCESS]`).waitFor({ timeout: 20_000 });
    }
    await page.locator('.badge[data-state=SUCCESS]').first().waitFor();
    await log.getByText("line-8").waitFor();
    await page.getByText("the attempt has ended").waitFor();
    expect(await nodeState(page, "finish")).toBe("SUCCESS");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download" }).click()]);
    expect(download.suggestedFilename()).toMatch(/^talk-\d+-attempt1\.log$/);
    const saved = await Bun.file((await download.path())!).text();
    expect(saved).toContain("line-1\n");
    expect(saved).toContain("line-8\n");
    // Keyboard only: a DAG node takes the focus and Enter opens its attempt's log.
    await page.locator('svg[data-testid=dag] g.node[data-task="prepare"]').focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: /^Log: prepare/ }).waitFor();
    await page.getByTestId("log").getByText("prepare").waitFor();
    expect((await ui.call("GET", `/workflow-instances/${id}`)).json.params.day).toBe("2026-12-01");
    await ui.shot(page, "run");
    await page.context().close();
  });

  test("stop a running run from its page", async () => {
    const run = await ui.call("POST", "/projects/demo/workflows/sleeper/run", {});
    expectStatus(run, 201);
    const page = await ui.pageAs(ADMIN_TOKEN);
    await page.goto(`/projects/demo/runs/${run.json.id}`);
    await page.locator('svg[data-testid=dag] g.node[data-task="wait"][data-state=RUNNING_EXECUTION]').waitFor({ timeout: 20_000 });
    await page.getByRole("toolbar", { name: "run controls" }).getByRole("button", { name: "stop" }).click();
    await page.locator("h1 .badge[data-state=STOP]").waitFor({ timeout: 20_000 });
    expect((await ui.call("GET", `/workflow-instances/${run.json.id}`)).json.state).toBe("STOP");
    await page.context().close();
  });

  test("controls from the run page: pause, resume, force success, recover failed, rerun — each checked in the API", async () => {
    // Marker files steer the tasks: `hold` runs until `go` exists, `check` fails until `ok` exists.
    const marks = mkdtempSync(join(tmpdir(), "porpoise-ui-marks-"));
    chmodSync(marks, 0o755); // the task user (nobody, under root) reads it
    const flow = `name: steered
tasks:
  - name: hold
    type: shell
    script: for i in $(seq 1 200); do [ -f ${marks}/go ] && exit 0; sleep 0.1; done; exit 4
  - name: check
    type: shell
    script: "[ -f ${marks}/ok ] || exit 3"
    deps: [hold]
  - name: after
    type: shell
    script: echo after
    deps: [check]
`;
    try {
      expectStatus(await ui.call("POST", "/projects/demo/workflows", flow), 201);
      const run = await ui.call("POST", "/projects/demo/workflows/steered/run", {});
      expectStatus(run, 201);
      const id = run.json.id as number;
      const state = async () => (await ui.call("GET", `/workflow-instances/${id}`)).json as { state: string; tasks: { id: number; taskName: string; state: string; superseded: boolean }[] };
      const page = await ui.pageAs(ADMIN_TOKEN);
      await page.goto(`/projects/demo/runs/${id}`);
      const controls = page.getByRole("toolbar", { name: "run controls" });
      const badge = (s: string) => page.locator(`h1 .badge[data-state=${s}]`).waitFor({ timeout: 20_000 });
      await page.locator('svg[data-testid=dag] g.node[data-task="hold"][data-state=RUNNING_EXECUTION]').waitFor({ timeout: 20_000 });

      // pause: the running task finishes, nothing new starts.
      await controls.getByRole("button", { name: "pause" }).click();
      await badge("READY_PAUSE");
      expect((await state()).state).toBe("READY_PAUSE");
      writeFileSync(join(marks, "go"), "");
      await badge("PAUSE");
      const paused = await state();
      expect(paused.state).toBe("PAUSE");
      expect(paused.tasks.map((t) => [t.taskName, t.state])).toEqual([["hold", "SUCCESS"]]);

      // resume: check runs and fails, so the run fails.
      await controls.getByRole("button", { name: "resume" }).click();
      await badge("FAILURE");
      const failed = await state();
      expect(failed.state).toBe("FAILURE");
      expect(failed.tasks.find((t) => t.taskName === "check")?.state).toBe("FAILURE");
      expect(failed.tasks.some((t) => t.taskName === "after")).toBe(false);

      // force success of the failed attempt (a button of its row), then recover failed: after runs.
      await page.locator("tr[data-task=check]").getByRole("button", { name: "force success" }).click();
      await page.locator("tr[data-task=check] .badge[data-state=FORCED_SUCCESS]").waitFor({ timeout: 20_000 });
      const forced = await state();
      expect(forced.state).toBe("FAILURE");
      expect(forced.tasks.find((t) => t.taskName === "check")?.state).toBe("FORCED_SUCCESS");
      await controls.getByRole("button", { name: "recover-failed" }).click();
      await badge("SUCCESS");
      const recovered = await state();
      expect(recovered.state).toBe("SUCCESS");
      expect(recovered.tasks.map((t) => [t.taskName, t.state])).toEqual([["hold", "SUCCESS"], ["check", "FORCED_SUCCESS"], ["after", "SUCCESS"]]);

      // rerun: the whole run again (check passes now); the earlier attempts are kept, superseded.
      writeFileSync(join(marks, "ok"), "");
      await controls.getByRole("button", { name: "rerun" }).click();
      await waitFor("the rerun ends SUCCESS", async () => {
        const s = await state();
        return s.state === "SUCCESS" && s.tasks.filter((t) => !t.superseded).length === 3 ? s : null;
      }, 30_000);
      const rerun = await state();
      expect(rerun.tasks.filter((t) => t.superseded).map((t) => t.taskName).sort()).toEqual(["after", "check", "hold"]);
      expect(rerun.tasks.filter((t) => !t.superseded).map((t) => [t.taskName, t.state])).toEqual([["hold", "SUCCESS"], ["check", "SUCCESS"], ["after", "SUCCESS"]]);
      await page.locator(`svg[data-testid=dag] g.node[data-task="check"][data-state=SUCCESS]`).waitFor({ timeout: 20_000 });
      await badge("SUCCESS");
      expect(await page.getByRole("alert").count()).toBe(0);
      await ui.shot(page, "run-controls");
      await page.context().close();
    } finally {
      rmSync(marks, { recursive: true, force: true });
    }
  });

  test("a viewer sees no control buttons, and the API refuses the control when forced from the page", async () => {
    const run = await ui.call("POST", "/projects/demo/workflows/sleeper/run", {});
    const id = run.json.id as number;
    const page = await ui.pageAs(viewerToken);
    await page.goto(`/projects/demo/runs/${id}`);
    await page.locator('svg[data-testid=dag] g.node[data-task="wait"][data-state=RUNNING_EXECUTION]').waitFor({ timeout: 20_000 });
    expect(await page.getByRole("toolbar", { name: "run controls" }).count()).toBe(0);
    expect(await page.getByRole("button", { name: /^(stop|pause|kill|rerun|force success)$/ }).count()).toBe(0);
    const forced = await page.evaluate(async (path) => {
      const res = await fetch(path, { method: "POST", headers: { authorization: `Bearer ${localStorage.getItem("porpoise.token")}` } });
      return { status: res.status, body: (await res.json()) as { error: { code: string } } };
    }, `/api/v1/workflow-instances/${id}/stop`);
    expect(forced.status).toBe(403);
    expect(forced.body.error.code).toBe("FORBIDDEN");
    expect((await ui.call("GET", `/workflow-instances/${id}`)).json.state).toBe("RUNNING_EXECUTION");
    await page.goto("/projects/demo/workflows/sleeper");
    await page.getByRole("heading", { name: /sleeper/ }).waitFor();
    expect(await page.getByRole("button", { name: "Run…" }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "YAML" }).count()).toBe(1);
    await page.context().close();
    expectStatus(await ui.call("POST", `/workflow-instances/${id}/stop`), 200);
  });

  test("schedule editor: next fire times previewed as the cron and zone are typed; a bad cron names the field", async () => {
    const page = await ui.pageAs(ADMIN_TOKEN);
    await page.goto("/projects/demo/workflows/slow/schedules");
    await page.getByRole("button", { name: "New schedule" }).click();
    const form = page.getByRole("form", { name: "schedule editor" });
    await form.getByLabel(/^Cron/).fill("0 30 9 * * ? *");
    await form.getByLabel("Time zone (IANA)").fill("Asia/Tokyo");
    // Tokyo has no DST: 09:30 there is 00:30 UTC every day.
    const now = new Date();
    let first = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 0, 30);
    if (first <= now.getTime()) first += 86_400_000;
    const expected = Array.from({ length: 5 }, (_, i) => new Date(first + i * 86_400_000).toISOString());
    const preview = page.getByTestId("preview");
    await preview.locator(`time[datetime="${expected[4]}"]`).waitFor();
    expect(await preview.locator("time").evaluateAll((ts) => ts.map((t) => t.getAttribute("datetime")))).toEqual(expected);
    await ui.shot(page, "schedule-preview");
    await form.getByLabel(/^Cron/).fill("0 30 25 * * ?");
    await preview.getByRole("alert").getByText("cron.hour", { exact: true }).waitFor();
    expect(await preview.getByRole("alert").innerText()).toContain("hour: 25");
    await form.getByLabel(/^Cron/).fill("0 30 9 * * ?");
    await form.getByRole("button", { name: "Create" }).click();
    await page.getByRole("cell", { name: "0 30 9 * * ?" }).waitFor();
    // A backfill of one day from the same page, with its progress.
    const backfill = page.getByRole("form", { name: "backfill" });
    await backfill.getByLabel("From (date)").fill("2026-01-01");
    await backfill.getByLabel("To (date)").fill("2026-01-01");
    await backfill.getByRole("button", { name: "Start backfill" }).click();
    await page.getByText("1 ok, 0 failed of 1").waitFor({ timeout: 30_000 });
    expect(await page.getByRole("alert").count()).toBe(0);
    await ui.shot(page, "schedules");
    await page.context().close();
  });

  test("the other views load without an error: settings, account and users, cluster, versions diff, YAML of a workflow", async () => {
    expectStatus(await ui.call("PUT", "/projects/demo/workflows/slow", SLOW.replace("echo done", "echo finished")), 200);
    const page = await ui.pageAs(ADMIN_TOKEN);
    const noAlert = async (path: string, ready: () => Promise<void>) => {
      await page.goto(path);
      await ready();
      expect({ path, alerts: await page.getByRole("alert").allInnerTexts() }).toEqual({ path, alerts: [] });
    };
    await noAlert("/projects/demo/settings", () => page.getByRole("cell", { name: "vera", exact: true }).waitFor());
    await noAlert("/account", () => page.getByRole("cell", { name: "vera", exact: true }).waitFor());
    await noAlert("/cluster", () => page.getByText(/nodes ·/).waitFor());
    await noAlert("/projects/demo/workflows/slow/edit", () => page.getByTestId("check-status").and(page.locator("[data-state=valid]")).waitFor());
    await noAlert("/projects/demo/workflows/slow", () => page.getByRole("heading", { name: /slow v2/ }).waitFor());
    await page.getByRole("button", { name: "Diff" }).click();
    const diff = page.getByLabel("changes from v1 to v2");
    await diff.locator(".del", { hasText: "echo done" }).waitFor();
    await diff.locator(".add", { hasText: "echo finished" }).waitFor();
    await page.context().close();
  });

  test("cluster page: ready-queue depth per worker group, and tasks waiting for a group nobody serves", async () => {
    expectStatus(await ui.call("POST", "/projects/demo/workflows", "name: gpu\ntasks:\n  - name: train\n    type: shell\n    script: echo train\n    workerGroup: gpu\n"), 201);
    const run = await ui.call("POST", "/projects/demo/workflows/gpu/run", {});
    expectStatus(run, 201);
    // porpoise all: the in-memory Bus's depth; its worker serves "default" only.
    await waitFor("the gpu task is queued", async () => (await ui.call("GET", "/cluster")).json.readyQueues.find((q: { workerGroup: string }) => q.workerGroup === "gpu")?.depth === 1, 20_000);
    expect((await ui.call("GET", "/cluster")).json.readyQueues).toEqual([
      { workerGroup: "default", depth: 0, dispatched: 0, served: true },
      { workerGroup: "gpu", depth: 1, dispatched: 1, served: false },
    ]);
    const page = await ui.pageAs(viewerToken);
    await page.goto("/cluster");
    const queues = page.getByRole("table", { name: "ready queues" });
    await queues.locator('tr[data-group=gpu][data-depth="1"][data-served=false]').waitFor();
    await queues.locator('tr[data-group=default][data-depth="0"][data-served=true]').waitFor();
    expect(await page.getByRole("status").innerText()).toContain('1 task waiting for worker group "gpu", which no live worker serves');
    await ui.shot(page, "cluster");
    await page.context().close();
    expectStatus(await ui.call("POST", `/workflow-instances/${run.json.id}/stop`), 200);
  });

  test("grid of runs × tasks: cells open the attempt; phone width and dark theme stay readable", async () => {
    const flow = "name: gridded\ntasks:\n  - name: extract\n    type: shell\n    script: echo extract\n  - name: load\n    type: shell\n    script: echo load\n    deps: [extract]\n";
    expectStatus(await ui.call("POST", "/projects/demo/workflows", flow), 201);
    for (let i = 0; i < 3; i++) expectStatus(await ui.call("POST", "/projects/demo/workflows/gridded/run", {}), 201);
    const page = await ui.pageAs(ADMIN_TOKEN);
    await page.goto("/projects/demo/workflows/gridded/grid");
    const grid = page.getByTestId("grid");
    await grid.getByRole("button", { name: /task load: SUCCESS/ }).first().waitFor({ timeout: 20_000 });
    await ui.shot(page, "grid");
    // Live: a run started now appears at the top without a reload.
    const fourth = await ui.call("POST", "/projects/demo/workflows/gridded/run", {});
    await grid.getByRole("button", { name: `run ${fourth.json.id} task load: SUCCESS` }).waitFor({ timeout: 20_000 });
    expect(await page.getByRole("heading", { name: "gridded: 4 runs × 2 tasks" }).count()).toBe(1);
    await grid.getByRole("button", { name: /task load: SUCCESS/ }).first().click();
    await page.waitForURL(/\/runs\/\d+\?task=\d+/);
    await page.getByRole("heading", { name: /^Log: load/ }).waitFor();
    await page.getByTestId("log").getByText("load").waitFor();
    await page.context().close();

    const phone = await ui.pageAs(ADMIN_TOKEN, { width: 390, height: 844, dark: true });
    await phone.goto("/projects/demo");
    await phone.getByRole("link", { name: "slow" }).first().waitFor();
    await phone.getByTestId("runs-gridded").getByRole("img").first().waitFor();
    const bg = await phone.evaluate("getComputedStyle(document.body).backgroundColor");
    expect(bg).toBe("rgb(13, 17, 23)");
    // Nothing pushes the page wider than the phone (wide tables scroll inside themselves).
    expect(await phone.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    await ui.shot(phone, "project-phone-dark");
    const runs = (await ui.call("GET", "/projects/demo/workflow-instances?workflow=gridded&limit=1")).json.items;
    await phone.goto(`/projects/demo/runs/${runs[0].id}`);
    await phone.locator("svg[data-testid=dag] g.node").first().waitFor();
    await phone.getByRole("heading", { name: "Attempts" }).waitFor();
    expect(await phone.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    await ui.shot(phone, "run-phone-dark");
    await phone.context().close();
  });

  test("settings: a bad datasource port is shown with its field, then saved; an owner changes a role; an admin creates a user", async () => {
    const page = await ui.pageAs(ADMIN_TOKEN);
    await page.goto("/projects/demo/settings");
    const form = page.getByRole("form", { name: "new datasource" });
    await form.getByLabel("Name").fill("warehouse");
    await form.getByLabel("Host").fill("db.internal");
    await form.getByLabel("Port").fill("99999");
    await form.getByLabel("Database").fill("dw");
    await form.getByLabel("User").fill("etl");
    await form.getByRole("button", { name: "Add Postgres datasource" }).click();
    const alert = form.getByRole("alert");
    await alert.locator("code", { hasText: /^port$/ }).waitFor();
    await form.getByLabel("Port").fill("5432");
    await form.getByRole("button", { name: "Add Postgres datasource" }).click();
    await page.getByRole("cell", { name: "db.internal:5432/dw" }).waitFor();
    expect((await ui.call("GET", "/projects/demo/datasources/warehouse")).json.port).toBe(5432);

    await page.getByLabel("role of vera").selectOption("developer");
    await ui.shot(page, "settings");
    const veraRole = async () => (await ui.call("GET", "/projects/demo/members")).json.items.find((m: { userName: string }) => m.userName === "vera").role;
    await waitFor("vera to be a developer", async () => (await veraRole()) === "developer", 10_000);

    await page.goto("/account");
    const newUser = page.getByRole("form", { name: "new user" });
    await newUser.getByLabel("User name").fill("walt");
    await newUser.getByLabel("Password").fill("short");
    await newUser.getByRole("button", { name: "Create user" }).click();
    await newUser.getByRole("alert").locator("code", { hasText: /^password$/ }).waitFor();
    await newUser.getByLabel("Password").fill("walt has a long password");
    await newUser.getByRole("button", { name: "Create user" }).click();
    await page.getByRole("cell", { name: "walt", exact: true }).waitFor();
    await page.context().close();
  });

  test("datasources are edited in place; an empty password field keeps the stored password, the checkbox removes it", async () => {
    expectStatus(await ui.call("POST", "/projects/demo/datasources", { name: "ledger", host: "db1.internal", database: "books", user: "clerk", password: "first-secret", params: { sslmode: "require" } }), 201);
    // The sealed password as stored: untouched by an edit that leaves the field empty.
    const db = new Database(ui.dbPath, { readonly: true });
    const sealed = () => (db.query("SELECT password FROM datasources WHERE name = 'ledger'").get() as { password: string | null }).password;
    try {
      const first = sealed();
      expect(first).not.toBeNull();
      const page = await ui.pageAs(ADMIN_TOKEN);
      const puts: Record<string, unknown>[] = [];
      page.on("request", (r) => {
        if (r.method() === "PUT" && r.url().includes("/datasources/")) puts.push(r.postDataJSON() as Record<string, unknown>);
      });
      await page.goto("/projects/demo/settings");
      await page.getByRole("button", { name: "Edit datasource ledger" }).click();
      const form = page.getByRole("form", { name: "edit datasource ledger" });
      expect(await form.getByLabel("Host").inputValue()).toBe("db1.internal");
      expect(await form.getByLabel(/^Connection options/).inputValue()).toBe("sslmode=require");
      expect(await form.getByLabel(/^New password/).inputValue()).toBe("");
      await form.getByLabel("Host").fill("db2.internal");
      await form.getByLabel("Port").fill("70000");
      await form.getByRole("button", { name: "Save datasource" }).click();
      await form.getByRole("alert").locator("code", { hasText: /^port$/ }).waitFor();
      expect((await ui.call("GET", "/projects/demo/datasources/ledger")).json.host).toBe("db1.internal");
      await form.getByLabel("Port").fill("6543");
      await form.getByRole("button", { name: "Save datasource" }).click();
      await page.getByRole("cell", { name: "db2.internal:6543/books" }).waitFor();
      const kept = (await ui.call("GET", "/projects/demo/datasources/ledger")).json;
      expect(kept).toMatchObject({ host: "db2.internal", port: 6543, database: "books", user: "clerk", hasPassword: true, params: { sslmode: "require" } });
      expect(puts.at(-1)).not.toHaveProperty("password");
      expect(sealed()).toBe(first);
      await ui.shot(page, "datasource-edit");

      // A typed password replaces the stored one.
      await page.getByRole("button", { name: "Edit datasource ledger" }).click();
      await form.getByLabel(/^New password/).fill("second-secret");
      await form.getByRole("button", { name: "Save datasource" }).click();
      await form.waitFor({ state: "detached" });
      expect(puts.at(-1)?.password).toBe("second-secret");
      expect(sealed()).not.toBe(first);
      expect(sealed()).not.toBeNull();

      // The checkbox removes it; a rename goes through the old name's path.
      await page.getByRole("button", { name: "Edit datasource ledger" }).click();
      await form.getByLabel("remove the stored password").check();
      await form.getByLabel("Name", { exact: true }).fill("journal");
      await form.getByRole("button", { name: "Save datasource" }).click();
      await page.getByRole("button", { name: "Edit datasource journal" }).waitFor();
      expect(puts.at(-1)?.password).toBeNull();
      expect((await ui.call("GET", "/projects/demo/datasources/journal")).json).toMatchObject({ host: "db2.internal", hasPassword: false });
      expect((await ui.call("GET", "/projects/demo/datasources/ledger")).status).toBe(404);
      await page.context().close();

      // A viewer sees the list without edit or delete buttons (vera is a developer by now: a new viewer).
      const viewer = await ui.pageAs(await userWithRole(ui, "vic", "demo", "viewer"));
      await viewer.goto("/projects/demo/settings");
      await viewer.getByRole("cell", { name: "journal", exact: true }).waitFor();
      expect(await viewer.getByRole("button", { name: /datasource/ }).count()).toBe(0);
      await viewer.context().close();
    } finally {
      db.close();
    }
  });
});
