// The web UI's text helpers (src/ui/text.ts): the YAML the editor shows for a stored definition
// must read back as the same definition (saving it unchanged must not change the workflow), the
// version diff, and the line an error's field path points at.

import { describe, expect, test } from "bun:test";
import { lineDiff, lineOfPath, toYaml } from "../../src/ui/text.ts";

describe("ui text helpers", () => {
  test("toYaml reads back (Bun.YAML, the API's parser) as the same value, awkward strings included", () => {
    const definition = {
      name: "etl",
      description: "",
      params: { day: "2026-01-01", flag: "true", n: "007", colon: "a: b", hash: "#x", lead: " x", trail: "x ", empty: "" },
      tasks: [
        { name: "extract", type: "shell", script: "set -e\necho one\n  indented\necho 'quoted: yes'", retries: 2, timeout: null },
        { name: "load", type: "shell", script: "echo load", deps: ["extract"], env: {}, tags: [] },
        { name: "yes", type: "noop", deps: [], script: "ends with a newline\n", other: "two\n\n", lead: "\n  first line blank" },
        { name: "nested", type: "http", http: { url: "https://x/y?z=1", headers: { "X-A": "1" }, body: [1, "two", { three: 3 }] } },
      ],
    };
    const text = toYaml(definition);
    expect(Bun.YAML.parse(text)).toEqual(definition);
  });

  test("lineDiff marks removed and added lines and keeps the rest", () => {
    expect(lineDiff("a\nb\nc", "a\nx\nc\nd")).toEqual([
      { kind: "same", text: "a" },
      { kind: "del", text: "b" },
      { kind: "add", text: "x" },
      { kind: "same", text: "c" },
      { kind: "add", text: "d" },
    ]);
  });

  test("lineOfPath finds the line of a field path, or the closest parent found", () => {
    const yaml = "name: etl\ntasks:\n  - name: a\n    type: shell\n    script: echo a\n  - name: b\n    type: shel\n    deps:\n      - a\n      - zz\n";
    expect(lineOfPath(yaml, "name")).toBe(1);
    expect(lineOfPath(yaml, "tasks.0.type")).toBe(4);
    expect(lineOfPath(yaml, "tasks.1")).toBe(6);
    expect(lineOfPath(yaml, "tasks.1.type")).toBe(7);
    expect(lineOfPath(yaml, "tasks.1.deps.1")).toBe(10);
    expect(lineOfPath(yaml, "tasks.1.timeout")).toBe(6);
    expect(lineOfPath(yaml, "nothing")).toBeNull();
  });
});
