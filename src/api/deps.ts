// What every route handler gets: the injected dependencies with defaults applied.

import type { InstanceSnapshot } from "../cache/instance-snapshots.ts";
import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import type { Cidr } from "../core/net/cidr.ts";
import type { Store } from "../store/store.ts";
import type { EdgeGateway } from "./edge/gateway.ts";
import type { AlertSendOptions } from "../alerts/test-send.ts";
import type { EngineClient } from "./engine.ts";
import type { LoginPolicy, LoginThrottle } from "./login-throttle.ts";
import type { Route } from "./route.ts";
import type { UiAssets } from "./ui-assets.ts";

export interface AppOptions {
  store: Store;
  log: Logger;
  now?: () => Date;
  sessionTtlMs?: number;
  maxBodyBytes?: number;
  version?: string;
  /** Runs and controls workflows; without it those routes answer 503 (API-only modes). */
  engine?: EngineClient;
  /** Peers whose X-Forwarded-For is believed (see client-address.ts); none by default. */
  trustedProxies?: readonly Cidr[];
  /** Login backoff; LOGIN_POLICY unless a test passes smaller budgets. */
  loginPolicy?: LoginPolicy;
  /** Checks the worker's data dir for /readyz: the problem ("disk full", "data dir not writable"), or null. */
  dataDirCheck?: () => Promise<string | null>;
  /** The worker's --work-dir when it runs in this process: where attempts' working directories are shown to be. */
  workDir?: string;
  /** Snapshots of running instances that masters put in the Cache (cluster api nodes); absent: the Store only. */
  instanceSnapshots?: InstanceSnapshots;
  /** The web UI served at `/` (ui-assets.ts); null: `/` says how to build it; absent: plain 404s. */
  ui?: UiAssets | null;
  /** The edge gateway (/edge/v1/*) where this node serves edge workers (api and all); absent: none. */
  edgeGateway?: EdgeGateway;
  /** The ready queues of the node's Bus, for GET /api/v1/cluster; absent: the cluster view has no queue depths. */
  readyQueues?: ReadyQueueFigures;
  /** Serves GET /metrics from it and counts requests by route and code (metrics/registry.ts); absent: no /metrics. */
  metrics?: MetricsRegistry;
  /** One log line per request, with fields (--access-log). */
  accessLog?: boolean;
  /** How the alert test-send endpoint sends (egress rules, --base-url); the built-in egress policy when left out. */
  alerts?: AlertSendOptions;
}

/** Where the api finds a running instance before the Store (cache/instance-snapshots.ts InstanceSnapshotReader). */
export interface InstanceSnapshots {
  /** The snapshot of a RUNNING_EXECUTION instance, or null (read the Store); never throws. */
  read(instanceId: number): Promise<InstanceSnapshot | null>;
}

/** The ready queues as this node sees them: handed in by modes/ from its Bus and served-group list (roles never import each other). */
export interface ReadyQueueFigures {
  /** Tasks waiting, not claimed, in the group's queue (Bus.depth). */
  depth(group: string): Promise<number>;
  /** The worker groups some live worker serves (in-process, cluster or edge); null: not known yet. */
  served(): readonly string[] | null;
}

export interface ApiDeps {
  store: Store;
  log: Logger;
  now: () => Date;
  sessionTtlMs: number;
  maxBodyBytes: number;
  version: string;
  engine: EngineClient | null;
  trustedProxies: readonly Cidr[];
  /** See AppOptions.workDir; null: `<data dir>/work`, derived from the attempt's log path. */
  workDir: string | null;
  /** Per-process login backoff (login-throttle.ts). */
  loginThrottle: LoginThrottle;
  /** Every mounted route; the OpenAPI document is generated from it. */
  routes: readonly Route[];
  dataDirCheck: (() => Promise<string | null>) | null;
  instanceSnapshots: InstanceSnapshots | null;
  edgeGateway: EdgeGateway | null;
  readyQueues: ReadyQueueFigures | null;
  alerts: AlertSendOptions;
}

export const DEFAULT_SESSION_TTL_MS = 12 * 60 * 60 * 1000;
