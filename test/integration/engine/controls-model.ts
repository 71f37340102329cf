// A small reference model of DolphinScheduler 3.2's controls, written from its rules (not
// from porpoise's engine), for the model-based test in controls-model.test.ts. One workflow
// instance of plain worker tasks without retries; each task's attempts end as planned.
//
// The rules it encodes:
// - a task runs once all its upstream tasks succeeded (or were forced to success, or are
//   forbidden: `flag: NO` is skipped and counts as success); a failed or killed upstream task
//   blocks it; nothing new starts unless the instance is RUNNING_EXECUTION and not ending;
// - failure strategy END: the first failure (or a user's kill) kills every running task and the
//   instance ends FAILURE; CONTINUE: everything not blocked runs, then FAILURE;
// - pause: running tasks finish, nothing starts, PAUSE (SUCCESS/FAILURE when nothing is left);
// - stop: running tasks are killed, STOP;
// - resume (PAUSE/STOP): successes stay, paused and killed tasks run again, failures stay;
// - recover-failed (FAILURE): successes stay, failed and killed tasks run again;
// - rerun (any end state): every task runs again; nothing of the earlier run counts (DS marks the
//   old task instances invalid) — issue 9 item 10;
// - force-success of a failed or killed task: its downstream proceeds (now, or when the
//   instance is resumed or recovered).
// What the test compares after each step: the instance state and, per task, the state of its
// latest stored attempt row and how many attempt rows it has.

export type RowState = "RUNNING_EXECUTION" | "SUCCESS" | "FAILURE" | "KILL" | "FORCED_SUCCESS";
type Status = "idle" | "running" | "success" | "forced" | "failure" | "killed" | "skipped";

export interface ModelTask {
  name: string;
  deps: string[];
  forbidden: boolean;
  /** Outcome of attempt k (1-based, counted over all runs) is plan[(k - 1) % plan.length]. */
  plan: ("SUCCESS" | "FAILURE")[];
}

export interface Scenario {
  tasks: ModelTask[];
  failureStrategy: "END" | "CONTINUE";
}

export type Step =
  | { kind: "complete"; task: string }
  | { kind: "kill"; task: string }
  | { kind: "force-success"; task: string }
  | { kind: "stop" | "pause" | "resume" | "rerun" | "recover-failed" };

/** mulberry32: small, seeded, the same sequence on every machine. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomScenario(r: () => number): Scenario {
  const n = 2 + Math.floor(r() * 5);
  const tasks: ModelTask[] = [];
  for (let j = 0; j < n; j++) {
    const deps = tasks.filter(() => r() < 0.4).map((t) => t.name);
    const plan = Array.from({ length: 6 }, () => (r() < 0.3 ? "FAILURE" : "SUCCESS") as "SUCCESS" | "FAILURE");
    tasks.push({ name: `t${j}`, deps, forbidden: r() < 0.1, plan });
  }
  return { tasks, failureStrategy: r() < 0.5 ? "END" : "CONTINUE" };
}

const OK: ReadonlySet<Status> = new Set(["success", "forced", "skipped"]);
const BAD: ReadonlySet<Status> = new Set(["failure", "killed"]);

export class ControlsModel {
  state = "SUBMITTED_SUCCESS";
  /** The instance's run counter: resume, rerun and recover-failed each start a new run. */
  runs = 1;
  private failing = false;
  readonly status = new Map<string, Status>();
  readonly lastRow = new Map<string, RowState>();
  readonly attempts = new Map<string, number>();

  constructor(readonly scenario: Scenario) {
    for (const t of scenario.tasks) {
      this.status.set(t.name, "idle");
      this.attempts.set(t.name, 0);
    }
  }

  /** The outcome the stand-in worker reports for attempt `attempt` of `task`. */
  outcome(task: string, attempt: number): "SUCCESS" | "FAILURE" {
    const plan = this.scenario.tasks.find((t) => t.name === task)!.plan;
    return plan[(attempt - 1) % plan.length]!;
  }

  running(): string[] {
    return this.scenario.tasks.filter((t) => this.status.get(t.name) === "running").map((t) => t.name);
  }

  /** Tasks force-success may be applied to now (their latest attempt of this run failed or was killed). */
  forceable(): string[] {
    if (!["RUNNING_EXECUTION", "READY_PAUSE", "FAILURE", "STOP", "PAUSE"].includes(this.state)) return [];
    return this.scenario.tasks.filter((t) => BAD.has(this.status.get(t.name)!)).map((t) => t.name);
  }

  apply(step: Step): void {
    switch (step.kind) {
      case "complete": {
        const outcome = this.outcome(step.task, this.attempts.get(step.task)!);
        this.end(step.task, outcome === "SUCCESS" ? "success" : "failure");
        break;
      }
      case "kill":
        this.end(step.task, "killed");
        break;
      case "force-success":
        this.status.set(step.task, "forced");
        this.lastRow.set(step.task, "FORCED_SUCCESS");
        break;
      case "pause":
        this.state = "READY_PAUSE";
        break;
      case "stop":
        this.state = "READY_STOP";
        for (const name of this.running()) this.end(name, "killed");
        break;
      case "resume":
      case "recover-failed":
      case "rerun":
        this.restart(step.kind);
        break;
    }
    this.advance();
  }

  start(): void {
    this.state = "RUNNING_EXECUTION";
    this.advance();
  }

  private restart(kind: "resume" | "recover-failed" | "rerun"): void {
    this.state = "RUNNING_EXECUTION";
    this.runs++;
    this.failing = false;
    for (const [name, s] of this.status) {
      if (kind === "rerun" || s === "killed" || (kind === "recover-failed" && s === "failure") || s === "skipped") this.status.set(name, "idle");
    }
    if (this.scenario.failureStrategy === "END" && [...this.status.values()].some((s) => BAD.has(s))) this.failing = true;
  }

  private end(task: string, status: "success" | "failure" | "killed"): void {
    this.status.set(task, status);
    this.lastRow.set(task, status === "success" ? "SUCCESS" : status === "failure" ? "FAILURE" : "KILL");
    const live = this.state === "RUNNING_EXECUTION" || this.state === "READY_PAUSE";
    if (status !== "success" && live && this.scenario.failureStrategy === "END" && !this.failing) {
      this.failing = true;
      for (const name of this.running()) this.end(name, "killed");
    }
  }

  private blocked(name: string, memo = new Map<string, boolean>()): boolean {
    if (memo.has(name)) return memo.get(name)!;
    const task = this.scenario.tasks.find((t) => t.name === name)!;
    const b = task.deps.some((d) => BAD.has(this.status.get(d)!) || (this.status.get(d) === "idle" && this.blocked(d, memo)));
    memo.set(name, b);
    return b;
  }

  private advance(): void {
    for (let changed = true; changed; ) {
      changed = false;
      for (const t of this.scenario.tasks) {
        if (this.status.get(t.name) !== "idle" || !t.deps.every((d) => OK.has(this.status.get(d)!))) continue;
        if (t.forbidden) {
          this.status.set(t.name, "skipped");
          changed = true;
        } else if (this.state === "RUNNING_EXECUTION" && !this.failing) {
          this.status.set(t.name, "running");
          this.attempts.set(t.name, this.attempts.get(t.name)! + 1);
          this.lastRow.set(t.name, "RUNNING_EXECUTION");
          changed = true;
        }
      }
    }
    if (!["RUNNING_EXECUTION", "READY_PAUSE", "READY_STOP"].includes(this.state) || this.running().length > 0) return;
    const statuses = [...this.status.entries()];
    const unresolved = statuses.some(([name, s]) => s === "idle" && !this.blocked(name));
    if (this.state === "READY_STOP") this.state = "STOP";
    else if (this.failing) this.state = "FAILURE";
    else if (!unresolved) this.state = statuses.some(([name, s]) => BAD.has(s) || (s === "idle" && this.blocked(name))) ? "FAILURE" : "SUCCESS";
    else if (this.state === "READY_PAUSE") this.state = "PAUSE";
    else throw new Error(`model stalled: tasks wait with nothing running (${JSON.stringify(statuses)})`);
  }

  /** What the Store must show: the instance state and, per task, `latest row state × attempt rows`. */
  expected(): Record<string, string> {
    const out: Record<string, string> = { instance: `${this.state} run ${this.runs}` };
    for (const t of this.scenario.tasks) out[t.name] = `${this.lastRow.get(t.name) ?? "-"} ×${this.attempts.get(t.name)}`;
    return out;
  }

  /** The steps that make sense now, each with a weight. */
  choices(): [Step, number][] {
    const out: [Step, number][] = [];
    const running = this.running();
    if (running.length > 0) {
      for (const task of running) out.push([{ kind: "complete", task }, 6 / running.length]);
      for (const task of running) out.push([{ kind: "kill", task }, 0.7 / running.length]);
      out.push([{ kind: "stop" }, 0.8]);
      if (this.state === "RUNNING_EXECUTION") out.push([{ kind: "pause" }, 0.8]);
    } else {
      out.push([{ kind: "rerun" }, 1]);
      if (this.state === "PAUSE" || this.state === "STOP") out.push([{ kind: "resume" }, 2.5]);
      if (this.state === "FAILURE") out.push([{ kind: "recover-failed" }, 2.5]);
    }
    for (const task of this.forceable()) out.push([{ kind: "force-success", task }, 0.6]);
    return out;
  }
}

export function pick(r: () => number, choices: [Step, number][]): Step {
  const total = choices.reduce((s, [, w]) => s + w, 0);
  let x = r() * total;
  for (const [step, w] of choices) if ((x -= w) <= 0) return step;
  return choices.at(-1)![0];
}
