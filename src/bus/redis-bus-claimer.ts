// How a claim waits without polling (docs/architecture.md §2): every group has a marker list that
// holds one "1" while tasks wait (redis-bus-scripts.ts); a claimer that found nothing BLPOPs the
// markers of its groups on a connection of its own, so Redis wakes exactly one claimer per
// marker and nobody asks in a loop. The wait is bounded (the earliest claim deadline, at most
// `maxBlockMs`) so that expired claims of the group are put back by the next claim script.
//
// Blocking connections are pooled: one per claim that is blocked right now. An aborted wait
// resolves at once and asks Redis to end the BLPOP (CLIENT UNBLOCK); should the BLPOP still pop
// a marker, it is given back (POKE), so no other claimer misses its wake-up.

import type { Logger } from "../core/log.ts";
import type { ConnectionFactory } from "./redis-bus-connection.ts";
import { POKE } from "./redis-bus-scripts.ts";
import type { RedisConnection } from "./redis-client.ts";

interface Blocker {
  readonly conn: RedisConnection;
  /** CLIENT ID of the current connection; null until asked, and again after each reconnect. */
  id: number | null;
  /** RedisConnection.connects when `id` was asked. */
  idOf: number;
}

export type WaitResult = "marker" | "timeout" | "aborted";

export class MarkerWaiter {
  private readonly idle: Blocker[] = [];
  private readonly all = new Set<Blocker>();
  private closed = false;
  private created = 0;

  constructor(
    private readonly conns: ConnectionFactory,
    /** Sends CLIENT UNBLOCK and POKE; never blocked itself. */
    private readonly control: RedisConnection,
    private readonly log: Logger,
  ) {}

  /**
   * Waits until one of `markers` can be popped, `timeoutMs` passes or `signal` aborts. `readyKeyOf`
   * maps a marker to its group's ready key (to give an unused marker back). Rejects when Redis
   * fails; the caller waits before trying again.
   */
  wait(markers: readonly string[], readyKeyOf: (marker: string) => string, timeoutMs: number, signal: AbortSignal): Promise<WaitResult> {
    if (signal.aborted || this.closed) return Promise.resolve("aborted");
    const blocker = this.idle.pop() ?? this.create();
    const popped = this.blpop(blocker, markers, timeoutMs).finally(() => {
      if (this.closed) blocker.conn.close();
      else this.idle.push(blocker);
    });
    return new Promise<WaitResult>((resolve, reject) => {
      const onAbort = () => {
        resolve("aborted");
        if (blocker.id !== null) this.control.send("CLIENT", ["UNBLOCK", blocker.id]).catch(() => {});
      };
      signal.addEventListener("abort", onAbort, { once: true });
      popped.then(
        (marker) => {
          signal.removeEventListener("abort", onAbort);
          if (!signal.aborted) return resolve(marker === null ? "timeout" : "marker");
          if (marker !== null) {
            this.control.script(POKE, [readyKeyOf(marker), marker], []).catch((err: unknown) =>
              this.log.debug("could not give a marker back; the next enqueue or claim sets it again", { marker, err }),
            );
          }
        },
        (err: unknown) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) resolve("aborted");
          else reject(err);
        },
      );
    });
  }

  /** Connections created so far (tests check that waits reuse them). */
  get connections(): number {
    return this.created;
  }

  close(): void {
    this.closed = true;
    for (const b of this.all) b.conn.close();
    this.idle.length = 0;
  }

  private create(): Blocker {
    const blocker: Blocker = { conn: this.conns.blocking(`porpoise-claim-${++this.created}`), id: null, idOf: -1 };
    this.all.add(blocker);
    return blocker;
  }

  private async blpop(b: Blocker, markers: readonly string[], timeoutMs: number): Promise<string | null> {
    if (b.idOf !== b.conn.connects) {
      // A new connection: its CLIENT ID goes out just before the BLPOP (pipelined, no extra wait).
      b.id = null;
      b.conn.send("CLIENT", ["ID"]).then(
        (id) => ([b.id, b.idOf] = [Number(id), b.conn.connects]),
        () => {},
      );
    }
    // BLPOP takes seconds with decimals; 0 would mean "forever".
    const seconds = Math.max(0.01, timeoutMs / 1000).toFixed(3);
    const popped = (await b.conn.sendBlocking("BLPOP", [...markers, seconds], timeoutMs)) as [string, string] | null;
    return popped ? popped[0] : null;
  }
}
