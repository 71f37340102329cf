// Why porpoise wraps croner instead of handing it Quartz text: for each place where croner
// 11 reads an expression differently from Quartz, croner's raw answer next to ours.
// src/core/cron/calendar.ts translates every expression into croner's own dialect (and
// runs it at UTC offset 0); zone.ts applies our daylight-saving rule.

import { describe, expect, test } from "bun:test";
import { Cron, type CronOptions } from "croner";
import { compileCron, nextFires, parseCron } from "../../src/core/cron/index.ts";
import { cronerPattern } from "../../src/core/cron/calendar.ts";

const FROM = new Date("2026-01-01T00:00:00Z");
const iso = (dates: Date[]) => dates.map((d) => d.toISOString().replace(".000", ""));
const croner = (pattern: string, count: number, from = FROM, options: CronOptions = {}) =>
  iso(new Cron(pattern, { timezone: "UTC", ...options }).nextRuns(count, from));
const ours = (expr: string, count: number, from = FROM, timezone = "UTC") => iso(nextFires(expr, { from, count, timezone }));
const cronerRefuses = (pattern: string, options: CronOptions = {}) => expect(() => new Cron(pattern, options)).toThrow();

describe("croner 11 and Quartz disagree; Quartz wins", () => {
  test("day-of-week numbers: croner 2 = TUE, Quartz 2 = MON", () => {
    expect(croner("0 0 0 ? * 2", 1)).toEqual(["2026-01-06T00:00:00Z"]); // Tuesday
    expect(ours("0 0 0 ? * 2", 1)).toEqual(["2026-01-05T00:00:00Z"]); // Monday
  });

  test("5L: croner's last Friday, Quartz's last Thursday", () => {
    expect(croner("0 0 0 ? * 5L", 1)).toEqual(["2026-01-30T00:00:00Z"]);
    expect(ours("0 0 0 ? * 5L", 1)).toEqual(["2026-01-29T00:00:00Z"]);
  });

  test("both day fields set: croner ORs them (1st or Monday); Quartz refuses", () => {
    expect(croner("0 0 12 1 * MON", 2)).toEqual(["2026-01-01T12:00:00Z", "2026-01-05T12:00:00Z"]);
    expect(() => parseCron("0 0 12 1 * MON")).toThrow("Quartz needs '?'");
    // What we hand croner: AND of the day fields, so a `?`-free translation cannot turn into an OR.
    expect(cronerPattern(parseCron("0 0 12 1 * ?"))).toEqual({ pattern: "0 0 12 1 1,2,3,4,5,6,7,8,9,10,11,12 * *", domAndDow: true });
  });

  test("? in both day fields, or in another field: croner reads *, Quartz refuses", () => {
    expect(croner("0 0 12 ? * ?", 1)).toEqual(["2026-01-01T12:00:00Z"]);
    expect(() => parseCron("0 0 12 ? * ?")).toThrow("'?' can be in only one");
    expect(croner("0 ? 12 * * *", 1)).toEqual(["2026-01-01T12:00:00Z"]);
    expect(() => parseCron("0 ? 12 * * ?")).toThrow("'?' is allowed only");
  });

  test("a lone L in day-of-week: croner refuses, Quartz means Saturday", () => {
    cronerRefuses("0 0 0 ? * L");
    expect(ours("0 0 0 ? * L", 1)).toEqual(["2026-01-03T00:00:00Z"]);
  });

  test("L-3 (third-to-last day) and L-3W: croner refuses, Quartz fires", () => {
    cronerRefuses("0 0 0 L-3 * ?");
    expect(ours("0 0 0 L-3 * ?", 2)).toEqual(["2026-01-28T00:00:00Z", "2026-02-25T00:00:00Z"]);
    expect(ours("0 0 0 L-3W * ?", 1, new Date("2026-03-01T00:00:00Z"))).toEqual(["2026-03-27T00:00:00Z"]); // 28th a Saturday
  });

  test("a/n steps (0 0 3/6 * * ?): croner refuses without sloppyRanges, Quartz starts at a", () => {
    cronerRefuses("0 0 3/6 * * ?");
    expect(ours("0 0 3/6 * * ? *", 2)).toEqual(["2026-01-01T03:00:00Z", "2026-01-01T09:00:00Z"]);
    expect(ours("/20 * * * * ?", 1)).toEqual(["2026-01-01T00:00:20Z"]); // bare /n = */n in Quartz
  });

  test("ranges that wrap (22-2, FRI-MON): croner refuses, Quartz wraps", () => {
    cronerRefuses("0 0 22-2 * * *");
    expect(ours("0 0 22-2 * * ?", 3)).toEqual(["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z", "2026-01-01T22:00:00Z"]);
    expect(ours("0 0 0 ? * FRI-MON", 4)).toEqual(["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-05T00:00:00Z"]);
  });

  test("W in a list: croner fires on each, Quartz does not support it and we refuse", () => {
    expect(croner("0 0 0 1W,15W * *", 2, new Date("2026-02-01T00:00:00Z"))).toEqual(["2026-02-02T00:00:00Z", "2026-02-16T00:00:00Z"]);
    expect(() => parseCron("0 0 0 1W,15W * ?")).toThrow("L and W stand alone");
  });

  test("years: croner takes 1-9999, we take Quartz-like 1970-2199", () => {
    expect(croner("0 0 0 1 1 * 1969", 1, new Date("1960-01-01T00:00:00Z"))).toEqual(["1969-01-01T00:00:00Z"]);
    expect(() => parseCron("0 0 0 1 1 ? 1969")).toThrow("expected 1970-2199");
  });
});

describe("daylight saving: croner's Vixie-cron rule vs ours (each wall-clock fire once)", () => {
  const berlin = { timezone: "Europe/Berlin" };

  test("hourly :30 on 2026-03-29: croner skips 02:30 (an interval job); we fire it at 03:00", () => {
    const from = new Date("2026-03-29T00:00:00Z");
    expect(iso(new Cron("0 30 * * * *", berlin).nextRuns(3, from))).toEqual(["2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"]);
    expect(ours("0 30 * * * ?", 3, from, "Europe/Berlin")).toEqual(["2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"]);
  });

  test("every 15 minutes on 2026-10-25: croner fires 02:xx twice (both passes); we fire each once", () => {
    const from = new Date("2026-10-25T00:40:00Z"); // 02:40 CEST, first pass
    expect(iso(new Cron("0 */15 * * * *", berlin).nextRuns(3, from))).toEqual(["2026-10-25T00:45:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:15:00Z"]);
    expect(ours("0 0/15 * * * ?", 3, from, "Europe/Berlin")).toEqual(["2026-10-25T00:45:00Z", "2026-10-25T02:00:00Z", "2026-10-25T02:15:00Z"]);
  });

  test("a fixed daily 02:30 agrees: 03:00 after the gap, first occurrence when repeated", () => {
    const cron = compileCron("0 30 2 * * ?");
    for (const from of ["2026-03-28T12:00:00Z", "2026-10-24T12:00:00Z"]) {
      expect(iso([cron.nextAfter(new Date(from), "Europe/Berlin")!])).toEqual(iso(new Cron("0 30 2 * * *", berlin).nextRuns(1, new Date(from))));
    }
  });
});
