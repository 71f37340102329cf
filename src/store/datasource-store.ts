// The Store contract for datasources (connections a task can use by name). Split from
// run-store.ts; store.ts re-exports it.

import type { Actor, Page, PageQuery } from "./store.ts";

export const DATASOURCE_TYPES = ["postgres"] as const;
export type DatasourceType = (typeof DATASOURCE_TYPES)[number];

/** Where a datasource points: what every view of one has. */
export interface DatasourceAddress {
  type: DatasourceType;
  host: string;
  port: number;
  database: string;
  user: string;
}

/** A datasource as list/get show it: never the password. */
export interface Datasource extends DatasourceAddress {
  id: number;
  projectId: number;
  name: string;
  hasPassword: boolean;
  params: Record<string, string>;
  description: string;
  createdBy: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What a worker needs to connect (includes the password). */
export interface DatasourceConnection extends DatasourceAddress {
  password: string | null;
  params: Record<string, string>;
}

export interface NewDatasource extends DatasourceAddress {
  name: string;
  password?: string | null;
  params?: Record<string, string>;
  description?: string;
}

export interface DatasourceRepository {
  /** ConflictError when the name is taken in the project; NotFoundError for a missing project. */
  create(projectId: number, input: NewDatasource, actor: Actor): Promise<Datasource>;
  get(projectId: number, name: string): Promise<Datasource | null>;
  list(projectId: number, page: PageQuery): Promise<Page<Datasource>>;
  /** `password: undefined` keeps it, `null` removes it. NotFoundError when missing. */
  update(projectId: number, name: string, patch: Partial<NewDatasource>, actor: Actor): Promise<Datasource>;
  delete(projectId: number, name: string, actor: Actor): Promise<void>;
  /** For the worker running a sql task: the full connection, password decrypted. Null when missing. */
  getConnection(projectId: number, name: string): Promise<DatasourceConnection | null>;
}
