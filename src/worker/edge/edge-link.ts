// An edge worker's link to its gateway (core/edge-messages.ts): HTTP calls with the worker
// token, the session (register, and register again when the gateway forgot it or another
// process took the worker id over), the heartbeat loop that renews it and brings kills back,
// and the backoff between failed calls: full jitter (a random wait up to an exponentially
// growing cap), so a fleet that lost its gateway does not come back in lockstep.
//
// States: NEW → REGISTERING → LINKED ⇄ REGISTERING → STOPPED. `lastContactMs` (performance.now()
// when the last answered heartbeat was sent) feeds the worker's lease watch: cut off longer than
// the edge lease, the worker stops its attempts, as the gateway reruns them by then.

import type { z } from "zod";
import {
  EDGE_PROTOCOL,
  EDGE_REFUSALS,
  heartbeatResponseSchema,
  registerResponseSchema,
  type EdgeAttemptRef,
  type RegisterResponse,
} from "../../core/edge-messages.ts";
import { PorpoiseError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { KillMessage } from "../../core/messages.ts";
import { parseOrThrow } from "../../core/zod-details.ts";

/** The gateway answered with an error (`code` from its error body). */
export class EdgeHttpError extends PorpoiseError {
  constructor(readonly httpStatus: number, code: string, message: string) {
    super(code, httpStatus >= 500 ? 503 : httpStatus, message);
  }
}

/** The gateway could not be reached or did not answer in time. */
export class EdgeUnreachable extends PorpoiseError {
  constructor(message: string, cause: unknown) {
    super("EDGE_UNREACHABLE", 503, message, { cause });
  }
}

export type LinkState = "NEW" | "REGISTERING" | "LINKED" | "STOPPED";

export interface EdgeLinkOptions {
  gateway: string;
  token: string;
  workerId: string;
  version: string;
  arch: string;
  platform: string;
  host: string;
  groups: readonly string[];
  slots: number;
  log: Logger;
  /** The attempts running now (sent with each heartbeat). */
  running: () => EdgeAttemptRef[];
  /** Attempts a previous process of this worker started and never ended (reported on register). */
  lost: () => EdgeAttemptRef[];
  /** Called once the gateway took the lost attempts (they run again). */
  lostReported: () => void;
  onKill: (kill: KillMessage) => void;
  /** PEM CA certificates trusted for an https:// gateway besides the system's (--ca-cert). */
  ca?: string;
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

/** Full jitter: a random wait in [0, min(cap, base · 2^n)). */
export function fullJitter(n: number, baseMs: number, capMs: number): number {
  return Math.floor(Math.random() * Math.min(capMs, baseMs * 2 ** Math.min(n, 20)));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

const CALL_TIMEOUT_MS = 15_000;

export class EdgeLink {
  state: LinkState = "NEW";
  session = "";
  leaseMs = 30_000;
  heartbeatMs = 10_000;
  /** performance.now() when the last answered heartbeat (or register) was sent. */
  lastContactMs = performance.now();
  /**
   * Whether the last call that ended got an answer from the gateway (any porpoise answer, an
   * error one too); false after one got none (refused, cut, timed out, or not the gateway's JSON),
   * null before the first. `unreachableReason` says why (the edge worker's /readyz and /metrics).
   */
  reachable: boolean | null = null;
  unreachableReason: string | null = null;
  private registering: Promise<void> | null = null;
  private heartbeats: ReturnType<typeof setTimeout> | null = null;
  readonly stopping = new AbortController();

  constructor(private readonly o: EdgeLinkOptions) {}

  get backoffBaseMs(): number {
    return this.o.backoffBaseMs ?? 200;
  }
  /** At most a heartbeat interval: once the link is back, what is spooled goes within about one. */
  get backoffCapMs(): number {
    return this.o.backoffCapMs ?? Math.min(10_000, this.heartbeatMs);
  }

  /** One call; EdgeHttpError for an error answer, EdgeUnreachable when there was none. */
  async call<S extends z.ZodType>(path: string, body: unknown, schema: S, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<z.output<S>> {
    const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(opts.timeoutMs ?? CALL_TIMEOUT_MS), ...(opts.signal ? [opts.signal] : [])]);
    let res: Response;
    try {
      res = await fetch(new URL(path, this.o.gateway), {
        method: "POST",
        headers: { authorization: `Bearer ${this.o.token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
        signal,
        ...(this.o.ca ? { tls: { ca: this.o.ca } } : {}),
      } as RequestInit);
    } catch (err) {
      throw this.unreachable(new EdgeUnreachable(`the gateway ${this.o.gateway} did not answer ${path}: ${err instanceof Error ? err.message : String(err)}`, err), opts.signal);
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch (err) {
      throw this.unreachable(new EdgeUnreachable(`the gateway's answer to ${path} (HTTP ${res.status}) was cut off or not JSON`, err), opts.signal);
    }
    this.reachable = true;
    this.unreachableReason = null;
    if (!res.ok) {
      const e = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      throw new EdgeHttpError(res.status, typeof e?.code === "string" ? e.code : `HTTP_${res.status}`, typeof e?.message === "string" ? e.message : `HTTP ${res.status} from ${path}`);
    }
    return parseOrThrow(schema, json, `the gateway's answer to ${path}`);
  }

  /** Notes the gateway unreachable, unless the call ended because this side gave up on it (stopping, a caller's abort). */
  private unreachable(err: EdgeUnreachable, callerSignal: AbortSignal | undefined): EdgeUnreachable {
    if (!this.stopping.signal.aborted && !callerSignal?.aborted) {
      this.reachable = false;
      this.unreachableReason = err.message;
    }
    return err;
  }

  /** The first register: refusals (version, architecture, groups, token) end the start. */
  async start(): Promise<void> {
    await this.register(true);
    this.scheduleHeartbeat();
  }

  stop(): void {
    this.state = "STOPPED";
    this.stopping.abort();
    if (this.heartbeats) clearTimeout(this.heartbeats);
  }

  /** Registers again (session unknown or taken over); concurrent callers share one attempt. */
  renew(): Promise<void> {
    return (this.registering ??= this.register(false).finally(() => (this.registering = null)));
  }

  /** Waits out the backoff after the n-th failure; false once the link stops. */
  async backoff(n: number): Promise<boolean> {
    await sleep(fullJitter(n, this.backoffBaseMs, this.backoffCapMs), this.stopping.signal);
    return !this.stopping.signal.aborted;
  }

  private async register(first: boolean): Promise<void> {
    this.state = "REGISTERING";
    for (let n = 0; !this.stopping.signal.aborted; n++) {
      const sentAt = performance.now();
      try {
        const r: RegisterResponse = await this.call(
          "/edge/v1/register",
          { protocol: EDGE_PROTOCOL, workerId: this.o.workerId, version: this.o.version, arch: this.o.arch, platform: this.o.platform, host: this.o.host, groups: [...this.o.groups], slots: this.o.slots, lost: this.o.lost() },
          registerResponseSchema,
        );
        this.o.lostReported();
        this.session = r.session;
        this.leaseMs = r.leaseMs;
        this.heartbeatMs = r.heartbeatMs;
        this.lastContactMs = sentAt;
        this.state = "LINKED";
        this.o.log.info(`edge: registered with ${this.o.gateway} (porpoise ${r.serverVersion}; lease ${r.leaseMs} ms)`);
        return;
      } catch (err) {
        const refused = err instanceof EdgeHttpError && err.httpStatus >= 400 && err.httpStatus < 500;
        if (first && refused) throw err;
        // Said once per outage or refusal; retried quietly after that (a revoked token is retried until an administrator acts).
        const level = n > 0 ? "debug" : refused ? "error" : "warn";
        this.o.log[level](`edge: register with ${this.o.gateway} failed (${(err as Error).message}); trying again`);
        if (!(await this.backoff(n))) return;
      }
    }
  }

  private scheduleHeartbeat(): void {
    if (this.stopping.signal.aborted) return;
    this.heartbeats = setTimeout(() => void this.heartbeat().finally(() => this.scheduleHeartbeat()), this.heartbeatMs);
  }

  private async heartbeat(): Promise<void> {
    if (this.state !== "LINKED") return;
    const sentAt = performance.now();
    try {
      const r = await this.call("/edge/v1/heartbeat", { session: this.session, running: this.o.running() }, heartbeatResponseSchema, { timeoutMs: Math.max(1000, this.heartbeatMs) });
      this.lastContactMs = sentAt;
      for (const kill of r.kills) this.o.onKill(kill);
    } catch (err) {
      if (isSessionGone(err)) await this.renew();
      else this.o.log.debug(`edge: heartbeat failed: ${(err as Error).message}`);
    }
  }
}

export function isSessionGone(err: unknown): boolean {
  return err instanceof EdgeHttpError && err.code === EDGE_REFUSALS.session;
}
