// Edge workers (migration 0017): one row per worker id, written by the gateway (api/edge/).
// Heartbeats and ages are on the DATABASE clock, as the node registry's (cluster-nodes.ts): the
// api nodes that serve one fleet agree on who is silent. Hand-written per dialect for now().
//
//   register(w)             INSERT … ON CONFLICT (id) DO UPDATE: a new session takes the id over
//   heartbeat(id, s, run)   UPDATE heartbeat_at = now, running WHERE session = s → false: taken over / gone
//   list()                  every row with heartbeatAgeMs = now − heartbeat_at

import { z } from "zod";
import { edgeAttemptRefSchema, type EdgeAttemptRef } from "../core/edge-messages.ts";
import type { Runner } from "./dialect.ts";

export interface EdgeWorkerRegistration {
  id: string;
  tokenId: number;
  session: string;
  host: string;
  version: string;
  arch: string;
  platform: string;
  groups: readonly string[];
  slots: number;
}

export interface EdgeWorkerRow extends EdgeWorkerRegistration {
  running: EdgeAttemptRef[];
  registeredAt: Date;
  heartbeatAgeMs: number;
}

export interface EdgeWorkerRepository {
  register(w: EdgeWorkerRegistration): Promise<void>;
  /** Refreshes the heartbeat and the attempts running; false when another session holds the id now. */
  heartbeat(id: string, session: string, running: readonly EdgeAttemptRef[]): Promise<boolean>;
  get(id: string): Promise<EdgeWorkerRow | null>;
  list(): Promise<EdgeWorkerRow[]>;
}

const COLUMNS = "id, token_id, session, host, version, arch, platform, groups, slots, running";
const runningSchema = z.array(edgeAttemptRefSchema);
const json = (v: unknown): unknown => (typeof v === "string" ? JSON.parse(v) : v);

function toRow(r: Record<string, unknown>): EdgeWorkerRow {
  return {
    id: String(r.id),
    tokenId: Number(r.token_id),
    session: String(r.session),
    host: String(r.host),
    version: String(r.version),
    arch: String(r.arch),
    platform: String(r.platform),
    groups: z.array(z.string()).parse(json(r.groups)),
    slots: Number(r.slots),
    running: runningSchema.parse(json(r.running)),
    registeredAt: new Date(Number(r.registered_ms)),
    heartbeatAgeMs: Math.max(0, Math.round(Number(r.age_ms))),
  };
}

function postgresEdge(run: Runner & { raw: { dialect: "postgres" } }): EdgeWorkerRepository {
  const q = (text: string, params: unknown[] = []) => run.read(() => run.raw.client.unsafe(text, params as never[]));
  const select = `SELECT ${COLUMNS}, (extract(epoch FROM registered_at) * 1000)::float8 AS registered_ms,
    (extract(epoch FROM now() - heartbeat_at) * 1000)::float8 AS age_ms FROM edge_workers`;
  return {
    register: async (w) => {
      await q(
        `INSERT INTO edge_workers (${COLUMNS}, registered_at, heartbeat_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, '[]'::jsonb, now(), now())
         ON CONFLICT (id) DO UPDATE SET token_id = excluded.token_id, session = excluded.session, host = excluded.host,
           version = excluded.version, arch = excluded.arch, platform = excluded.platform, groups = excluded.groups,
           slots = excluded.slots, running = '[]'::jsonb, registered_at = now(), heartbeat_at = now()`,
        [w.id, w.tokenId, w.session, w.host, w.version, w.arch, w.platform, JSON.stringify(w.groups), w.slots],
      );
    },
    heartbeat: async (id, session, running) =>
      (await q("UPDATE edge_workers SET heartbeat_at = now(), running = $3::jsonb WHERE id = $1 AND session = $2 RETURNING id", [id, session, JSON.stringify(running)])).length > 0,
    get: async (id) => {
      const [r] = await q(`${select} WHERE id = $1`, [id]);
      return r ? toRow(r) : null;
    },
    list: async () => (await q(`${select} ORDER BY id`)).map(toRow),
  };
}

function sqliteEdge(run: Runner & { raw: { dialect: "sqlite" } }): EdgeWorkerRepository {
  const { statement } = run.raw;
  const all = (text: string, ...params: unknown[]) => run.exclusive(async () => statement(text).all(...(params as never[])) as Record<string, unknown>[]);
  const select = (now: number) => [`SELECT ${COLUMNS}, registered_at AS registered_ms, ? - heartbeat_at AS age_ms FROM edge_workers`, now] as const;
  return {
    register: async (w) => {
      const now = Date.now();
      await run.write(async () =>
        statement(
          `INSERT INTO edge_workers (${COLUMNS}, registered_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?)
           ON CONFLICT (id) DO UPDATE SET token_id = excluded.token_id, session = excluded.session, host = excluded.host,
             version = excluded.version, arch = excluded.arch, platform = excluded.platform, groups = excluded.groups,
             slots = excluded.slots, running = '[]', registered_at = excluded.registered_at, heartbeat_at = excluded.heartbeat_at`,
        ).run(w.id, w.tokenId, w.session, w.host, w.version, w.arch, w.platform, JSON.stringify(w.groups), w.slots, now, now),
      );
    },
    heartbeat: async (id, session, running) =>
      (await all("UPDATE edge_workers SET heartbeat_at = ?, running = ? WHERE id = ? AND session = ? RETURNING id", Date.now(), JSON.stringify(running), id, session)).length > 0,
    get: async (id) => {
      const [text, now] = select(Date.now());
      const [r] = await all(`${text} WHERE id = ?`, now, id);
      return r ? toRow(r) : null;
    },
    list: async () => {
      const [text, now] = select(Date.now());
      return (await all(`${text} ORDER BY id`, now)).map(toRow);
    },
  };
}

export function createEdgeWorkerRepository(run: Runner): EdgeWorkerRepository {
  return run.raw.dialect === "postgres"
    ? postgresEdge(run as Runner & { raw: { dialect: "postgres" } })
    : sqliteEdge(run as Runner & { raw: { dialect: "sqlite" } });
}
