// Column helpers of the SQLite tables (schema-sqlite.ts and its parts); not tables, so not re-exported there.

import { integer, text } from "drizzle-orm/sqlite-core";

export const id = () => integer().primaryKey({ autoIncrement: true });
export const ref = (name: string) => integer(name);
export const time = (name: string) => integer(name, { mode: "timestamp_ms" });
export const createdAt = () => time("created_at").notNull().$defaultFn(() => new Date());
export const updatedAt = () => time("updated_at").notNull().$defaultFn(() => new Date());
export const json = <T>(name: string) => text(name, { mode: "json" }).$type<T>();
export const boolean = (name: string) => integer(name, { mode: "boolean" });
export const emptyObject = {};
