// The `dependent` task's check: has a given workflow (optionally one task of it) succeeded
// for the same business cycle? DolphinScheduler's date values name intervals relative to
// the business date (the schedule time, else the start of this instance); for each
// interval the latest instance of the dependency created in it decides: SUCCESS → holds,
// ended otherwise → failed, none or still running → wait. Items combine by AND/OR.
// A dependency in another project is read only while the run's user may see that project
// (run-rights.ts); a gone or hidden one fails the task at once instead of waiting forever.

import type { DependentTask } from "../core/task-types.ts";
import type { Store, User, WorkflowInstance } from "../store/store.ts";
import { resolveTarget, runUserOf } from "./run-rights.ts";

export type CheckResult = "SUCCESS" | "FAILURE" | "WAIT";
type Interval = [Date, Date];

const HOUR = 3600_000;
const DAY = 24 * HOUR;

function startOfDay(d: Date): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}
function addDays(d: Date, n: number): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);
}

/** The intervals a date value names; every one must hold (DS checks each day of "last 7 days"). */
export function intervalsOf(dateValue: string, business: Date): Interval[] {
  const hour = new Date(Math.floor(business.getTime() / HOUR) * HOUR);
  const day = startOfDay(business);
  const hours = (n: number): Interval[] => Array.from({ length: n }, (_, k) => [new Date(hour.getTime() - (k + 1) * HOUR), new Date(hour.getTime() - k * HOUR)]);
  const days = (n: number): Interval[] => Array.from({ length: n }, (_, k) => [addDays(day, -(k + 1)), addDays(day, -k)]);
  const monday = addDays(day, -((day.getDay() + 6) % 7));
  const monthStart = new Date(day.getFullYear(), day.getMonth(), 1);
  const lastMonthStart = new Date(day.getFullYear(), day.getMonth() - 1, 1);
  const oneDay = (d: Date): Interval[] => [[d, addDays(d, 1)]];
  switch (dateValue) {
    case "currentHour": return [[hour, new Date(hour.getTime() + HOUR)]];
    case "last1Hour": return hours(1);
    case "last2Hours": return hours(2);
    case "last3Hours": return hours(3);
    case "last24Hours": return hours(24);
    case "today": return oneDay(day);
    case "last1Days": return days(1);
    case "last2Days": return days(2);
    case "last3Days": return days(3);
    case "last7Days": return days(7);
    case "thisWeek": return [[monday, addDays(monday, 7)]];
    case "lastWeek": return [[addDays(monday, -7), monday]];
    case "lastMonday": return oneDay(addDays(monday, -7));
    case "lastTuesday": return oneDay(addDays(monday, -6));
    case "lastWednesday": return oneDay(addDays(monday, -5));
    case "lastThursday": return oneDay(addDays(monday, -4));
    case "lastFriday": return oneDay(addDays(monday, -3));
    case "lastSaturday": return oneDay(addDays(monday, -2));
    case "lastSunday": return oneDay(addDays(monday, -1));
    case "thisMonth": return [[monthStart, new Date(day.getFullYear(), day.getMonth() + 1, 1)]];
    case "thisMonthBegin": return oneDay(monthStart);
    case "thisMonthEnd": return oneDay(new Date(day.getFullYear(), day.getMonth() + 1, 0));
    case "lastMonth": return [[lastMonthStart, monthStart]];
    case "lastMonthBegin": return oneDay(lastMonthStart);
    case "lastMonthEnd": return oneDay(new Date(day.getFullYear(), day.getMonth(), 0));
    default: return [[day, new Date(day.getTime() + DAY)]];
  }
}

/** A dependency that does not exist or that the run's user may not see: the task fails with this message. */
export class DependencyRefused extends Error {}

async function checkItem(store: Store, instance: WorkflowInstance, item: DependentTask["dependOn"][number], business: Date, user: () => Promise<User | null>): Promise<CheckResult> {
  const target = await resolveTarget(store, instance, "dependent", item, user);
  if ("refused" in target) throw new DependencyRefused(`dependent: ${target.refused}`);
  const { project, workflow } = target;
  const selfId = instance.id;
  let result: CheckResult = "SUCCESS";
  for (const [from, to] of intervalsOf(item.dateValue, business)) {
    const page = await store.instances.list({ projectId: project.id, workflowId: workflow.id, from, to, limit: 5, offset: 0 });
    const latest = page.items.find((i) => i.id !== selfId);
    const r = latest ? await outcomeOf(store, latest, item.task) : "WAIT";
    if (r === "FAILURE") return "FAILURE";
    if (r === "WAIT") result = "WAIT";
  }
  return result;
}

async function outcomeOf(store: Store, instance: WorkflowInstance, task: string | undefined): Promise<CheckResult> {
  if (task !== undefined) {
    const attempts = (await store.taskInstances.listForInstance(instance.id)).filter((a) => a.taskName === task && !a.superseded); // a rerun's earlier attempts do not count
    const last = attempts.at(-1);
    if (last && (last.state === "SUCCESS" || last.state === "FORCED_SUCCESS")) return "SUCCESS";
  }
  switch (instance.state) {
    case "SUCCESS": return task === undefined ? "SUCCESS" : "FAILURE";
    case "FAILURE":
    case "STOP":
    case "PAUSE": return "FAILURE";
    default: return "WAIT";
  }
}

/** Throws DependencyRefused when an item names a workflow that is gone or out of the run's user's reach (run-rights.ts). */
export async function checkDependent(store: Store, instance: WorkflowInstance, task: DependentTask): Promise<CheckResult> {
  const business = instance.scheduleTime ?? instance.startTime ?? instance.createdAt;
  const results: CheckResult[] = [];
  let user: Promise<User | null> | undefined;
  const runUser = () => (user ??= runUserOf(store, instance));
  for (const item of task.dependOn) results.push(await checkItem(store, instance, item, business, runUser));
  if (task.relation === "OR") {
    if (results.includes("SUCCESS")) return "SUCCESS";
    return results.every((r) => r === "FAILURE") ? "FAILURE" : "WAIT";
  }
  if (results.includes("FAILURE")) return "FAILURE";
  return results.every((r) => r === "SUCCESS") ? "SUCCESS" : "WAIT";
}
