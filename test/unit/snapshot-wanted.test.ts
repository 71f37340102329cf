// The api's asks for instance snapshots (SNAPSHOT_WANTED_CHANNEL) carry one instance id as
// decimal text; anything else that reaches a master's subscription (a buggy or hostile writer
// of Redis that also holds the secret) is ignored, never turned into a number it did not say.

import { expect, test } from "bun:test";
import { parseWantedInstance } from "../../src/core/messages.ts";

test("an instance id is read back", () => {
  expect(parseWantedInstance("1")).toBe(1);
  expect(parseWantedInstance("42")).toBe(42);
  expect(parseWantedInstance(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
});

test("anything but a positive integer in plain decimal is not an ask", () => {
  for (const raw of ["", "0", "-1", "01", "1.5", "1e3", " 1", "1 ", "0x10", "NaN", "Infinity", '{"instanceId":1}', "9007199254740993", "12345678901234567"]) {
    expect({ raw, id: parseWantedInstance(raw) }).toEqual({ raw, id: null });
  }
});
