// Cron for schedules: Quartz (as DolphinScheduler writes it) and Unix forms, fire times in
// IANA time zones. See parse.ts for the dialect, zone.ts for daylight saving.

export { compileCron, fireTimesBetween, nextFires, type CompiledCron, type NextFiresOptions } from "./fire-times.ts";
export { parseCron, type CronSpec, type DayRule, type ParseCronOptions } from "./parse.ts";
export { getZone } from "./zone.ts";
