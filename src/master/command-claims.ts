// How a master takes commands on (master.ts): it claims those of its slots from the Store a few at
// a time, carries each out (command-execution.ts) through its group commit, gives back what it
// did not carry out, and re-opens the orphaned claims of its slots (docs/architecture.md §3.5).
// Also the controls a sub_workflow parent issues to its child, as commands.

import { controlFits } from "../core/states.ts";
import { RetryAborted, retryStore, type StoreRetryOptions } from "../store/retry.ts";
import type { Command } from "../store/store.ts";
import type { Batch } from "./batch.ts";
import { type CommandHost, executeCommand } from "./command-execution.ts";
import type { ChildControl } from "./master-tasks.ts";

const SYSTEM = { userId: null, userName: "porpoise" };
const CHILD_CONTROLS = { STOP: "stop", PAUSE: "pause", RESUME: "resume" } as const;
/** Commands claimed at once; each is carried out before the next (claimCommands). */
const COMMAND_BATCH = 10;
/** Tries of a command whose execution throws (a bug, bad data — not a store outage) before it is given up. */
const MAX_COMMAND_FAILURES = 3;

/** What claiming commands needs of its master: what carrying one out needs, but the commit (made here). */
export interface CommandClaimsHost extends Omit<CommandHost, "commit"> {
  /** How every store call of the engine waits out an outage (store/retry.ts). */
  retry: StoreRetryOptions;
  /** Aborted by stop(): a command whose work is still queued then is given back. */
  stopping: AbortSignal;
  stopped(): boolean;
  schedule(work: (batch: Batch) => void): void;
  /** Logs a failed background step, except the end of a retry cut short by stop(). */
  failed(what: string): (err: unknown) => void;
}

export class CommandClaims {
  private claiming: Promise<void> | null = null;
  /** Commands claimed in the current batch and not started yet: stop() gives them back first. */
  private unstarted: Command[] = [];
  private claimAgain = false;
  /**
   * The claim loop re-opens the orphaned claims of the owned slots (CLAIMED by another node, or by
   * this node id with no claim of this process behind it) before it next claims
   * (docs/architecture.md §3.5): set at start, on acquiring slots, by the sweeps.
   */
  private reopenDue = false;
  private claimLater: ReturnType<typeof setTimeout> | null = null;
  /** Commands whose execution threw (not a store outage: those are retried in place), how often: given up after MAX_COMMAND_FAILURES. */
  private readonly commandFailures = new Map<number, number>();
  private readonly commandHost: CommandHost;

  constructor(private readonly host: CommandClaimsHost) {
    this.commandHost = {
      store: host.store,
      coordinator: host.coordinator,
      log: host.log,
      serial: host.serial,
      driver: (id) => host.driver(id),
      loading: (id) => host.loading(id),
      load: (id, mode) => host.load(id, mode),
      commit: (c, work, mark) => this.commitCommand(c, work, mark),
    };
  }

  /** The claim loop in progress, if any (stop() waits for it). */
  get running(): Promise<void> | null {
    return this.claiming;
  }

  /** Stopping: the commands claimed and not started yet, no longer to be started here. */
  takeUnstarted(): Command[] {
    const unstarted = this.unstarted;
    this.unstarted = [];
    return unstarted;
  }

  /** Stopping: no claim later. */
  cancelLater(): void {
    if (this.claimLater) clearTimeout(this.claimLater);
  }

  /** Re-opens the orphaned claims of the owned slots before the next claim, and claims. */
  reopenAndClaim(): void {
    this.reopenDue = true;
    this.claimCommands();
  }

  claimCommands(): void {
    const host = this.host;
    if (host.stopped()) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = (async () => {
      do {
        this.claimAgain = false;
        for (;;) {
          const slots = host.coordinator.ownedSlots();
          if (this.reopenDue) {
            // Here, between claim rounds, this process holds no claim of its own (each was carried
            // out or given back), so its node id's CLAIMED rows in its slots are orphans too.
            this.reopenDue = false;
            const reopened = await retryStore("re-opening orphaned commands", () => host.store.commands.reopen(slots, host.coordinator.nodeId, false), host.retry);
            if (reopened.length > 0) host.log.info(`master: ${reopened.length} commands claimed by a master that did not carry them out are pending again (${reopened.slice(0, 10).join(",")}${reopened.length > 10 ? ",…" : ""})`);
          }
          // Only commands of instances in the slots held now (docs/architecture.md §3.3), a few at a
          // time: a slot that moves while they are carried out (each waits for its Store steps) takes
          // its commands along — they are given back, PENDING, for the new owner (churn.test.ts).
          const commands = await retryStore(
            "claiming commands",
            () => host.store.commands.claimNext(host.coordinator.nodeId, COMMAND_BATCH, { types: ["STOP", "PAUSE", "RESUME", "RERUN", "RECOVER_FAILED", "FORCE_SUCCESS", "KILL_TASK"], slots }),
            host.retry,
          );
          // A claimed command is CLAIMED until its effect commits: store failures of its steps are retried;
          // given up (stopping), it goes back to PENDING, or stays CLAIMED for the slot's next owner to re-open.
          this.unstarted = [...commands];
          let retry = false;
          for (const c of commands) {
            if (this.unstarted[0] !== c) continue; // given back by stop() meanwhile
            this.unstarted.shift();
            const outcome = host.stopped() ? "not-owned" : await retryStore(`command ${c.id} (${c.type})`, () => executeCommand(this.commandHost, c), host.retry).catch((err) => {
              if (err instanceof RetryAborted) return "not-owned" as const; // stopping: the next owner carries it out
              return this.commandFailed(c, err);
            });
            if (outcome !== "done") await this.giveBack(c);
            else if (this.commandFailures.size > 0) this.commandFailures.delete(c.id);
            if (outcome === "retry") retry = true;
          }
          if (retry) this.claimSoon();
          if (commands.length < COMMAND_BATCH) break;
        }
      } while (this.claimAgain && !host.stopped());
    })()
      .catch(host.failed("claiming commands failed"))
      .finally(() => {
        this.claiming = null;
      });
  }

  /**
   * A command whose execution threw is tried again a few times (what it changed so far is safe to
   * repeat), then consumed with an error: a command that always fails must not hold the loop.
   */
  private async commandFailed(c: Command, err: unknown): Promise<"retry" | "done"> {
    const failures = (this.commandFailures.get(c.id) ?? 0) + 1;
    if (failures < MAX_COMMAND_FAILURES) {
      this.commandFailures.set(c.id, failures);
      this.host.log.error(`master: command ${c.id} (${c.type}) failed; it is tried again`, { err });
      return "retry";
    }
    this.commandFailures.delete(c.id);
    this.host.log.error(`master: command ${c.id} (${c.type}) failed ${failures} times; it is given up (consumed, not carried out)`, { err });
    await this.host.store.commands.complete(c.id, this.host.coordinator.nodeId).catch(() => false);
    return "done";
  }

  /**
   * A command whose write was refused (its driver went stale and is reloaded) is claimed again a
   * moment later, not at once: the reload has to happen first, and a wake may never come (`all`).
   */
  private claimSoon(): void {
    if (this.host.stopped() || this.claimLater) return;
    this.claimLater = setTimeout(() => {
      this.claimLater = null;
      this.claimCommands();
    }, 1000);
    this.claimLater.unref?.();
  }

  /**
   * Schedules `work` into the next group commit together with the command's done-mark, which
   * applies only if every op `work` added did, or waits for its effects (command-execution.ts
   * CommandHost.commit).
   */
  private commitCommand(c: Command, work: (batch: Batch) => boolean, mark: "batch" | "effects"): Promise<boolean> {
    const host = this.host;
    return new Promise<boolean>((resolve) => {
      if (host.stopped()) return resolve(false);
      // Once stopped, queued work is dropped: the command is given back (see InstanceLoading.drive()).
      const onStop = () => resolve(false);
      host.stopping.addEventListener("abort", onStop, { once: true });
      host.schedule((batch) => {
        host.stopping.removeEventListener("abort", onStop);
        const first = batch.ops.length;
        let ran = false;
        try {
          ran = work(batch);
        } finally {
          if (!ran) resolve(false);
        }
        if (!ran) return;
        const after = Array.from({ length: batch.ops.length - first }, (_, i) => first + i);
        if (mark === "batch") batch.add(null, { op: "command", id: c.id, consumer: host.coordinator.nodeId, after }, (o) => resolve(o.outcome === "applied"));
        // Effects run in the order added: this one after the work's own.
        else batch.after(() => resolve(batch.applied(after)));
        batch.onAbort(() => resolve(false));
      });
    });
  }

  /** A claimed command this master did not carry out goes back to PENDING (its slot's owner takes it). */
  async giveBack(c: Command): Promise<void> {
    // Not tied to the stop signal: a stopping master gives back what it claimed (for up to 5 s of outage).
    await retryStore(`giving command ${c.id} back`, () => this.host.store.commands.release(c.id, this.host.coordinator.nodeId), { log: this.host.log, signal: AbortSignal.timeout(5000) }).catch((err) => {
      // Not lost: it stays CLAIMED, and the slot's owner re-opens it in its next sweep (this master's own, or the next owner's).
      if (!(err instanceof RetryAborted)) this.host.log.error(`master: could not give command ${c.id} back; it stays claimed until its slot's owner re-opens it`, { err });
    });
  }

  /** A control of a sub_workflow child, issued by its parent (stop and pause cascade, resume of a paused child). */
  async enqueueControl(instanceId: number, kind: ChildControl): Promise<void> {
    const instance = await this.host.store.instances.get(instanceId);
    if (!instance || !controlFits(CHILD_CONTROLS[kind], instance.state)) return;
    await this.host.store.commands.enqueue({ type: kind, projectId: instance.projectId, workflowId: instance.workflowId, workflowInstanceId: instanceId }, SYSTEM);
    this.claimCommands();
  }
}
