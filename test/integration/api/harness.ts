// A real API over a real store for each test: createApp on freshStore, the
// admin bootstrapped as on first start, and a controllable clock. Requests go
// through `app.request` (the full hono stack, no server, no mocks).

import { expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../../src/api/app.ts";
import { bootstrapAdmin } from "../../../src/api/bootstrap.ts";
import { generateToken, hashToken, tokenDisplayPrefix } from "../../../src/api/tokens.ts";
import { MemoryBus } from "../../../src/bus/memory-bus.ts";
import { SingleNodeCoordinator } from "../../../src/coordinator/single-node.ts";
import { silentLogger } from "../../../src/core/log.ts";
import { createEngineClient, type EngineClient } from "../../../src/api/engine-client.ts";
import { startEngine, type Engine, type EngineOptions } from "../../../src/modes/engine.ts";
import type { Dialect, Store, TaskInstanceState, User, WorkflowInstance } from "../../../src/store/store.ts";
import { freshStore, type TestStore } from "../../helpers/stores.ts";
import { waitFor } from "../../helpers/wait.ts";

export interface Reply {
  status: number;
  headers: Headers;
  /** Parsed JSON, or null for an empty body. */
  json: any;
  text: string;
}

export interface CallOptions {
  token?: string | null;
  /** An object is sent as JSON; a string or stream as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Harness extends AsyncDisposable {
  store: TestStore;
  adminToken: string;
  /** The clock the app reads; tests move it to expire tokens. */
  clock: { now: Date };
  call(method: string, path: string, opts?: CallOptions): Promise<Reply>;
  /** A user made through the store (no password: hashing costs ~0.2 s) with a live API token. */
  user(name: string, opts?: { isAdmin?: boolean }): Promise<{ user: User; token: string }>;
  /** The app, for requests that read a streamed body. */
  app: ReturnType<typeof createApp>;
  /** A temp dir removed on dispose (the engine's data dir when there is one). */
  dataDir: string;
  engine: Engine | null;
  /** Polls `fn` until it returns something truthy (a condition, never a fixed sleep). */
  waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs?: number): Promise<T>;
}

export interface HarnessOptions {
  maxBodyBytes?: number;
  sessionTtlMs?: number;
  /**
   * `full`: a real engine (master + worker + client) runs the workflows; `client`: only a real
   * EngineClient (nothing runs: for controls and logs on instances a test writes itself).
   */
  engine?: "full" | "client";
  /** The engine's alert delivery loop (e.g. a short backoff) and the test-send's options. */
  alerts?: EngineOptions["alerts"];
}

export async function apiHarness(dialect: Dialect, opts: HarnessOptions = {}): Promise<Harness> {
  const store = await freshStore(dialect);
  const { token } = await bootstrapAdmin({ store, dataDir: null, log: silentLogger, print: () => {} });
  const clock = { now: new Date() };
  const dataDir = mkdtempSync(join(tmpdir(), "porpoise-api-"));
  const bus = new MemoryBus();
  const coordinator = new SingleNodeCoordinator({ slotCount: 8 });
  let engine: Engine | null = null;
  let client: EngineClient | undefined;
  if (opts.engine === "full") {
    await coordinator.start();
    engine = await startEngine({ store, bus, coordinator, log: silentLogger, dataDir, workerSlots: 4, workerGroups: ["default"], killGraceMs: 500, ...(opts.alerts ? { alerts: opts.alerts } : {}) });
    client = engine.client;
  } else if (opts.engine === "client") {
    client = createEngineClient({ store, bus, slotOf: (id) => coordinator.slotOf(id), log: silentLogger });
  }
  const app = createApp({
    store,
    log: silentLogger,
    now: () => clock.now,
    version: "test",
    maxBodyBytes: opts.maxBodyBytes,
    sessionTtlMs: opts.sessionTtlMs,
    engine: client,
    // As modes/all.ts hands them in: the in-memory Bus's depths, served = the in-process worker's groups.
    ...(opts.engine === "full" ? { readyQueues: { depth: (g: string) => bus.depth(g), served: () => ["default"] } } : {}),
    ...(opts.alerts?.egress ? { alerts: { egress: opts.alerts.egress, baseUrl: opts.alerts.baseUrl ?? null } } : {}),
  });

  async function call(method: string, path: string, o: CallOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...o.headers };
    const auth = o.token === undefined ? token : o.token;
    if (auth !== null) headers.authorization ??= `Bearer ${auth}`;
    let body: RequestInit["body"];
    if (typeof o.body === "string" || o.body instanceof ReadableStream || o.body instanceof Uint8Array) body = o.body as RequestInit["body"];
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await app.request(path, { method, headers, body });
    const text = await res.text();
    // An HTML page (/api/docs) has text and no JSON.
    const isJson = text !== "" && !(res.headers.get("content-type") ?? "").startsWith("text/html");
    return { status: res.status, headers: res.headers, text, json: isJson ? JSON.parse(text) : null };
  }


  return {
    store,
    adminToken: token!,
    clock,
    call,
    app,
    dataDir,
    engine,
    waitFor,
    async user(name, o = {}) {
      const system = { userId: null, userName: "test" };
      const user = await store.users.create({ name, passwordHash: null, isAdmin: o.isAdmin ?? false }, system);
      const t = generateToken();
      await store.tokens.create(
        { userId: user.id, name: "test", kind: "api", tokenHash: hashToken(t), prefix: tokenDisplayPrefix(t), expiresAt: null },
        system,
      );
      return { user, token: t };
    },
    async [Symbol.asyncDispose]() {
      if (engine) {
        await engine.stop(2000);
        await coordinator.stop();
      }
      await bus.close();
      await store[Symbol.asyncDispose]();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Asserts an error reply in the API's one error shape and returns it. */
export function expectError(reply: Reply, status: number, code: string, messagePart?: string | RegExp) {
  expect({ status: reply.status, body: reply.json }).toMatchObject({ status, body: { error: { code } } });
  expect(typeof reply.json.error.message).toBe("string");
  expect(Array.isArray(reply.json.error.details)).toBe(true);
  if (messagePart !== undefined) expect(reply.json.error.message).toMatch(messagePart);
  return reply.json.error as { code: string; message: string; details: { path: string; message: string }[] };
}

export const twoTaskWorkflow = (name: string, script = "echo hi") => ({
  name,
  tasks: [
    { name: "extract", type: "shell", script },
    { name: "load", type: "shell", script: "echo load", deps: ["extract"] },
  ],
});

/**
 * A workflow instance with one attempt of one task, written through the store as the engine
 * would (no engine needed): for reads, authorization and log tests.
 */
export async function seedInstance(
  store: Store,
  projectId: number,
  workflow: string,
  opts: { params?: Record<string, string>; task?: string; taskParams?: Record<string, string>; output?: Record<string, string>; state?: TaskInstanceState; logPath?: string } = {},
): Promise<{ instance: WorkflowInstance; taskInstanceId: number }> {
  const wf = await store.workflows.get(projectId, workflow);
  if (!wf) throw new Error(`seedInstance: no workflow ${workflow}`);
  const instance = await store.instances.create({ workflowId: wf.id, slot: 0, runType: "START_PROCESS", params: opts.params ?? {} });
  const [ins] = await store.taskInstances.applyBatch([
    {
      op: "insert",
      workflowInstanceId: instance.id,
      taskName: opts.task ?? wf.name,
      taskType: "shell",
      attempt: 1,
      state: "DISPATCH",
      dispatchToken: "seed-token",
      slot: 0,
      epoch: 0,
      params: opts.taskParams ?? {},
    },
  ]);
  if (ins?.outcome !== "applied") throw new Error("seedInstance: insert not applied");
  if (opts.state || opts.output || opts.logPath) {
    const set = { output: opts.output ?? null, logPath: opts.logPath ?? null };
    await store.taskInstances.applyBatch([
      { op: "update", id: ins.id, attempt: 1, token: "seed-token", from: ["DISPATCH"], to: opts.state ?? "SUCCESS", set },
    ]);
  }
  return { instance, taskInstanceId: ins.id };
}
