// Column helpers of the Postgres tables (schema-pg.ts and its parts); not tables, so not re-exported there.

import { sql } from "drizzle-orm";
import { bigint, jsonb, timestamp } from "drizzle-orm/pg-core";

export const id = () => bigint({ mode: "number" }).primaryKey().generatedByDefaultAsIdentity();
export const ref = (name: string) => bigint(name, { mode: "number" });
export const time = (name: string) => timestamp(name, { withTimezone: true, mode: "date", precision: 3 });
export const createdAt = () => time("created_at").notNull().defaultNow();
export const updatedAt = () => time("updated_at").notNull().defaultNow();
export const json = <T>(name: string) => jsonb(name).$type<T>();
export const emptyObject = sql`'{}'::jsonb`;
