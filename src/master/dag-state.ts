// The in-memory state of ONE running workflow instance: pure (no I/O, no clock, no
// timers), so the master driver is a thin loop around it and every rule is unit-tested.
//
// Protocol: `start()` once, then feed events (`onTaskFinished`, `requestStop`,
// `requestPause`, `resume`, `forceSuccess`); each returns the actions of that step. The
// driver makes all actions of one call durable together, then sends the dispatches.
// Every dispatched attempt ends with exactly one `onTaskFinished` for it — a `kill` means
// "make it end": kill the process, or cancel its delay timer, then report KILL.
//
// Speed: tasks are the integer indices of `buildGraph`; each task keeps counters of its
// unfinished and failed upstream tasks, so finishing a task costs O(its out-degree) and a
// 1 → 1000 → 1 fan-in makes the sink ready exactly once, on its last parent.
//
// Semantics (DolphinScheduler's, where it has one):
// - forbidden tasks (`flag: NO`) are skipped and count as succeeded for their downstream;
// - a task all of whose upstream tasks were skipped by a branch is skipped too; a task
//   with some upstream tasks on a skipped branch ignores those (DS `isTaskNodeNeedSkip`);
// - a failed task blocks its downstream (they never run), except a `conditions` task,
//   which runs on its upstream's failure — that is its point. A failure whose downstream
//   tasks are all conditions tasks is handled: it neither triggers END nor fails the
//   instance (DS `haveConditionsAfterNode`). A killed task blocks conditions tasks too;
// - failure strategy END: the first unhandled failure kills every running attempt and
//   nothing new starts; the instance ends FAILURE when the last one ends. CONTINUE: the
//   instance ends FAILURE once everything not blocked has run;
// - retries: a FAILURE with retries left is dispatched again as the next attempt after
//   `retryInterval`; KILL/STOP are not retried; NEED_FAULT_TOLERANCE (a lost attempt) runs
//   again at once without using up a retry;
// - pause: running attempts finish (including ones waiting for a delay or retry
//   interval); nothing new starts, retries included — they run on resume;
// - stop: running attempts are killed; the killed tasks run again on resume;
// - a forbidden conditions/switch task decides nothing: all its downstream proceed. So
//   does a failed one that is forced to success.

import { successors } from "../core/dag.ts";
import { ConflictError, ValidationError } from "../core/errors.ts";
import { assertControl, isTerminalTaskState, isTerminalWorkflowState } from "../core/states.ts";
import type { ConditionsTask, SwitchTask } from "../core/task-types.ts";
import { decideConditions, decideSwitch, type UpstreamOutcome } from "./branching.ts";
import type { DagAction, DispatchAction, DispatchReason, TaskResult } from "./dag-actions.ts";
import { ACTIVE, BLOCK, BLOCKED, FAIL, FAILED, HELD, HELD_RERUN, HELD_RETRY, HELD_START, NOT_IN_RUN, OK, SKIP, SKIPPED_BRANCH, SKIPPED_FORBIDDEN, STATUS_NAMES, SUCCEEDED, WAITING } from "./dag-codes.ts";
import { planPrevious } from "./dag-recovery.ts";
import { DagTasks } from "./dag-tasks.ts";

export class DagState extends DagTasks {
  private failing = false;
  // Per-call buffers.
  private readonly queue: number[] = [];
  private out: DagAction[] = [];
  private readonly buckets: DispatchAction[][] = [[], [], [], [], []];

  // ── Events ───────────────────────────────────────────────────────────────────────────

  /** Starts the run: dispatches (or skips, or decides) every task that can run now. */
  start(): DagAction[] {
    if (this.state !== "SUBMITTED_SUCCESS") throw new ConflictError(`this run has already started (state ${this.state})`);
    this.state = "RUNNING_EXECUTION";
    this.applyPrevious();
    for (let i = 0; i < this.graph.size; i++) if (this.status[i] === WAITING && this.pending[i] === 0) this.decide(i);
    return this.finishCall();
  }

  /** A dispatched attempt ended (the driver has stored it). */
  onTaskFinished(name: string, result: TaskResult): DagAction[] {
    const i = this.indexOf(name);
    if (this.status[i] !== ACTIVE) throw new ConflictError(`task "${name}" has no running attempt (it is ${STATUS_NAMES[this.status[i]!]}); ignoring its result`);
    if (result.attempt !== this.attempt[i]) {
      throw new ConflictError(`result for attempt ${result.attempt} of task "${name}" is stale: attempt ${this.attempt[i]} is the running one`);
    }
    if (!isTerminalTaskState(result.state)) {
      throw new ValidationError(`task "${name}" cannot finish in state ${result.state}; a finished attempt is SUCCESS, FAILURE, KILL, STOP, PAUSE or NEED_FAULT_TOLERANCE`);
    }
    this.killSent[i] = 0;
    switch (result.state) {
      case "SUCCESS":
      case "FORCED_SUCCESS":
        this.succeed(i);
        break;
      case "FAILURE":
        if (this.failures[i]! < this.tasks[i]!.retries) {
          this.failures[i]!++;
          if (this.canLaunch()) this.launch(i, "retry");
          else this.hold(i, HELD_RETRY);
        } else this.fail(i, FAIL);
        break;
      case "KILL":
      case "STOP":
        if (this.state === "READY_STOP") this.hold(i, HELD_RERUN);
        else this.fail(i, BLOCK);
        break;
      case "PAUSE":
        this.hold(i, HELD_RERUN);
        break;
      case "NEED_FAULT_TOLERANCE":
        if (this.canLaunch()) this.launch(i, "fault-tolerance");
        else if (this.failing) this.fail(i, BLOCK);
        else this.hold(i, HELD_RERUN);
        break;
    }
    return this.finishCall();
  }

  /** Stop: kill every running attempt, start nothing; ends STOP. */
  requestStop(): DagAction[] {
    this.requireStarted();
    this.state = assertControl("stop", this.state);
    for (const i of this.active) this.kill(i, "stop");
    return this.finishCall();
  }

  /** Pause: running attempts finish, nothing new starts; ends PAUSE (or SUCCESS/FAILURE if nothing was left). */
  requestPause(): DagAction[] {
    this.requireStarted();
    this.state = assertControl("pause", this.state);
    return this.finishCall();
  }

  /** Resume a PAUSE or STOP run in memory: held tasks start (killed ones as a new attempt). */
  resume(): DagAction[] {
    assertControl("resume", this.state);
    this.state = "RUNNING_EXECUTION";
    for (const i of [...this.held].sort((x, y) => x - y)) {
      const kind = this.heldKind[i];
      if (kind === HELD_RETRY) this.launch(i, "retry");
      else {
        if (kind === HELD_RERUN) this.failures[i] = 0;
        this.launch(i, kind === HELD_RERUN ? "rerun" : "start");
      }
    }
    return this.finishCall();
  }

  /** Whether the task failed for good (no retry left, none held): an alert's "task failed after its last retry". */
  isFailed(name: string): boolean {
    return this.status[this.indexOf(name)] === FAILED;
  }

  /**
   * A failed or killed task was forced to success (the driver stored FORCED_SUCCESS): its
   * downstream, blocked so far, proceeds — now if the run is going, on resume if it is
   * paused or stopped. A run that already ended SUCCESS/FAILURE only notes it (recover-failed
   * starts a new run from the stored states).
   */
  forceSuccess(name: string): DagAction[] {
    const i = this.indexOf(name);
    if (this.status[i] !== FAILED) throw new ConflictError(`task "${name}" is ${STATUS_NAMES[this.status[i]!]}; only a failed or killed task can be forced to success`);
    if (this.unhandled[i]) {
      this.unhandled[i] = 0;
      this.unhandledFailures--;
    }
    if (this.state === "SUCCESS" || this.state === "FAILURE") {
      this.setStatus(i, SUCCEEDED);
      return [];
    }
    this.reopenDownstream(i);
    this.succeed(i);
    return this.finishCall();
  }

  // ── Internals ────────────────────────────────────────────────────────────────────────

  private requireStarted(): void {
    if (this.state === "SUBMITTED_SUCCESS") throw new ConflictError("this run has not started; call start() first");
  }

  private canLaunch(): boolean {
    return this.state === "RUNNING_EXECUTION" && !this.failing;
  }

  private applyPrevious(): void {
    const failed: [number, number][] = [];
    for (const step of planPrevious(this.graph, this.tasks, this.status, this.targets, this.opts)) {
      const i = step.i;
      this.attempt[i] = step.attempt;
      if (step.kind === "succeeded") {
        if (step.chosen) this.chosen.set(i, step.chosen);
        this.setStatus(i, SUCCEEDED);
        this.sent[i] = OK;
        this.queue.push(i);
      } else if (step.kind === "active") {
        this.setStatus(i, ACTIVE);
      } else if (step.kind === "failed") {
        failed.push([i, step.outcome]);
        if (step.failures !== undefined) this.failures[i] = step.failures;
      }
    }
    // Failures last: an END failure must see (and kill) the adopted running attempts.
    for (const [i, outcome] of failed) {
      if (outcome === FAIL && this.failures[i]! <= this.tasks[i]!.retries) {
        if (this.canLaunch()) this.launch(i, "retry");
        else this.hold(i, HELD_RETRY);
      } else this.fail(i, outcome);
    }
  }

  /** A task whose upstream are all finished: skip it, block it, hold it or launch it. */
  private decide(i: number): void {
    const task = this.tasks[i]!;
    if (this.inRunPreds[i]! > 0 && this.skippedPreds[i] === this.inRunPreds[i]) {
      this.resolve(i, SKIPPED_BRANCH, SKIP);
      this.out.push({ kind: "skip", task: task.name, index: i, reason: "branch" });
    } else if (this.blockingPreds[i]! > 0 || (this.failedPreds[i]! > 0 && task.type !== "conditions")) {
      this.resolve(i, BLOCKED, BLOCK);
    } else if (task.flag === "NO") {
      this.resolve(i, SKIPPED_FORBIDDEN, OK);
      this.out.push({ kind: "skip", task: task.name, index: i, reason: "forbidden" });
    } else if (this.canLaunch()) {
      this.launch(i, "start");
    } else this.hold(i, HELD_START);
  }

  private launch(i: number, reason: DispatchReason): void {
    const task = this.tasks[i]!;
    const attempt = ++this.attempt[i]!;
    if (task.type === "conditions" || task.type === "switch") return this.runInMaster(i, task, attempt);
    this.setStatus(i, ACTIVE);
    this.killSent[i] = 0;
    const delaySeconds = reason === "retry" ? task.retryInterval : reason === "fault-tolerance" ? 0 : task.delay;
    this.buckets[this.priority[i]!]!.push({ kind: "dispatch", task: task.name, index: i, attempt, delaySeconds, dryRun: this.opts.dryRun === true, reason });
  }

  private runInMaster(i: number, task: ConditionsTask | SwitchTask, attempt: number): void {
    const decision = task.type === "conditions" ? decideConditions(task, (name) => this.outcomeOf(name)) : decideSwitch(task, this.opts.paramsFor?.(task.name) ?? {});
    this.out.push({ kind: "record", task: task.name, index: i, attempt, state: decision.ok ? "SUCCESS" : "FAILURE", branch: decision.chosen, message: decision.message });
    if (!decision.ok) return this.fail(i, FAIL);
    this.chosen.set(i, new Set(decision.chosen.map((name) => this.graph.indexOf.get(name)!)));
    this.succeed(i);
  }

  private outcomeOf(name: string): UpstreamOutcome {
    const status = this.status[this.graph.indexOf.get(name)!];
    if (status === SUCCEEDED || status === SKIPPED_FORBIDDEN) return "SUCCESS";
    if (status === FAILED) return "FAILURE";
    return null;
  }

  private hold(i: number, kind: number): void {
    this.setStatus(i, HELD);
    this.heldKind[i] = kind;
  }

  private succeed(i: number): void {
    this.resolve(i, SUCCEEDED, OK);
  }

  private fail(i: number, outcome: number): void {
    this.resolve(i, FAILED, outcome);
    if (outcome === FAIL && this.onlyConditionsDownstream(i)) return; // handled by the conditions task
    this.unhandled[i] = 1;
    this.unhandledFailures++;
    if (this.opts.failureStrategy === "END" && !this.failing && this.state !== "READY_STOP") {
      this.failing = true;
      for (const j of this.active) this.kill(j, "failure");
    }
  }

  private onlyConditionsDownstream(i: number): boolean {
    let any = false;
    for (const s of successors(this.graph, i)) {
      if (this.status[s] === NOT_IN_RUN) continue;
      if (this.tasks[s]!.type !== "conditions") return false;
      any = true;
    }
    return any;
  }

  private kill(i: number, reason: "stop" | "failure"): void {
    if (this.killSent[i]) return;
    this.killSent[i] = 1;
    this.out.push({ kind: "kill", task: this.graph.names[i]!, index: i, attempt: this.attempt[i]!, reason });
  }

  private resolve(i: number, status: number, outcome: number): void {
    this.setStatus(i, status);
    this.sent[i] = outcome;
    this.queue.push(i);
  }

  private outcomeFor(from: number, to: number): number {
    const chosen = this.chosen.get(from);
    if (chosen && this.targets.get(from)!.has(to) && !chosen.has(to)) return SKIP;
    return this.sent[from]!;
  }

  private count(to: number, outcome: number, delta: 1 | -1): void {
    if (outcome === SKIP) this.skippedPreds[to]! += delta;
    else if (outcome === FAIL) this.failedPreds[to]! += delta;
    else if (outcome === BLOCK) this.blockingPreds[to]! += delta;
  }

  /** Tells the downstream of every finished task in the queue; O(out-degree) each. */
  private drain(): void {
    for (let head = 0; head < this.queue.length; head++) {
      const from = this.queue[head]!;
      for (const to of successors(this.graph, from)) {
        if (this.status[to] !== WAITING) continue;
        this.count(to, this.outcomeFor(from, to), 1);
        if (--this.pending[to]! === 0) this.decide(to);
      }
    }
    this.queue.length = 0;
  }

  /**
   * Before a failed task turns into a success: take back what it told its downstream, and
   * reopen the tasks it blocked (and what they blocked in turn), so they are decided again.
   */
  private reopenDownstream(i: number): void {
    const stack = [i];
    while (stack.length > 0) {
      const from = stack.pop()!;
      for (const to of successors(this.graph, from)) {
        const status = this.status[to];
        if (status !== WAITING && status !== BLOCKED) continue;
        this.count(to, this.outcomeFor(from, to), -1);
        this.pending[to]!++;
        if (status === BLOCKED) {
          this.setStatus(to, WAITING);
          stack.push(to);
        }
      }
    }
  }

  private finishCall(): DagAction[] {
    this.drain();
    for (const bucket of this.buckets) {
      for (const action of bucket) this.out.push(action);
      bucket.length = 0;
    }
    this.checkFinished();
    const out = this.out;
    this.out = [];
    return out;
  }

  private checkFinished(): void {
    if (isTerminalWorkflowState(this.state) || this.active.size > 0) return;
    const c = this.statusCount;
    const unresolved = c[WAITING]! + c[HELD]!;
    let state: "SUCCESS" | "FAILURE" | "STOP" | "PAUSE";
    if (this.state === "READY_STOP") state = "STOP";
    else if (this.failing) state = "FAILURE";
    else if (unresolved === 0) state = this.unhandledFailures > 0 || c[BLOCKED]! > 0 ? "FAILURE" : "SUCCESS";
    else if (this.state === "READY_PAUSE") state = "PAUSE";
    else throw new Error(`DAG state stalled: ${unresolved} tasks neither ready nor running with nothing running (a bug in dag-state.ts)`);
    this.state = state;
    this.out.push({ kind: "finish", state });
  }
}
