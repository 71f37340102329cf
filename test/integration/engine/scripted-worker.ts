// A worker stand-in for the model-based test: it claims from the real ready queue of its group on
// the real Bus, reports each attempt RUNNING on the slot's event stream at once, and ends it only when the
// test says so (or KILL when the master publishes a kill for it) — so the test decides the
// order of every event while the real master, DagState and Store do the rest.

import type { Bus, Unsubscribe } from "../../../src/bus/bus.ts";
import type { KillMessage, TaskEvent } from "../../../src/core/messages.ts";
import type { Store } from "../../../src/store/store.ts";

interface Held {
  taskInstanceId: number;
  workflowInstanceId: number;
  slot: number;
  epoch: number;
  attempt: number;
  token: string;
}

export class ScriptedWorker {
  /** Live attempts by `instanceId/taskName`. */
  readonly held = new Map<string, Held>();
  private readonly abort = new AbortController();
  private unsubscribe: Unsubscribe | null = null;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly bus: Bus,
    private readonly store: Store,
    private readonly group: string,
  ) {}

  private readonly sink = { report: (e: TaskEvent) => void this.bus.publishEvent(e.slot, e) };

  async start(): Promise<void> {
    this.unsubscribe = await this.bus.subscribeKills((msg) => this.onKill(msg));
    this.loop = this.pullLoop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.unsubscribe?.();
  }

  /** Ends the live attempt of `task` in `instanceId` with `state`. */
  complete(instanceId: number, task: string, state: "SUCCESS" | "FAILURE"): void {
    const key = `${instanceId}/${task}`;
    const h = this.held.get(key);
    if (!h) throw new Error(`no live attempt of task "${task}" in instance ${instanceId} (live: ${[...this.held.keys()].join(", ") || "none"})`);
    this.held.delete(key);
    this.sink.report({ kind: "done", ...h, state, exitCode: state === "SUCCESS" ? 0 : 1, output: {}, message: null, endTime: new Date() });
  }

  private async pullLoop(): Promise<void> {
    while (!this.abort.signal.aborted) {
      const tasks = await this.bus.claim([this.group], 100, this.abort.signal);
      await this.bus.ack(tasks);
      for (const rt of tasks) {
        const row = await this.store.taskInstances.get(rt.taskInstanceId);
        if (!row) continue;
        const h: Held = { taskInstanceId: rt.taskInstanceId, workflowInstanceId: rt.workflowInstanceId, slot: rt.slot, epoch: rt.epoch, attempt: rt.attempt, token: rt.token };
        this.held.set(`${rt.workflowInstanceId}/${row.taskName}`, h);
        this.sink.report({ kind: "running", ...h, host: "scripted", logPath: null, startTime: new Date() });
      }
    }
  }

  private onKill(msg: KillMessage): void {
    for (const [key, h] of this.held) {
      if (h.taskInstanceId !== msg.taskInstanceId || h.attempt !== msg.attempt || h.token !== msg.token) continue;
      this.held.delete(key);
      this.sink.report({ kind: "done", ...h, state: "KILL", exitCode: null, output: {}, message: msg.reason, endTime: new Date() });
    }
  }
}
