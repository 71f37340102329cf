import { expect, test } from "bun:test";
import { redactUrl } from "../../src/core/redact-url.ts";

test("passwords never reach logs; URLs without one are unchanged", () => {
  expect(redactUrl("postgres://app:s3cret@db:5432/porpoise")).toBe("postgres://app:***@db:5432/porpoise");
  expect(redactUrl("redis://:s3cret@cache:6379")).toBe("redis://:***@cache:6379");
  expect(redactUrl("postgres://app@db/porpoise")).toBe("postgres://app@db/porpoise");
  expect(redactUrl("postgres://app:p%40ss@db/x")).not.toContain("p%40ss");
  // Not a parseable URL: still no password.
  expect(redactUrl("postgres://app:se cret@")).not.toContain("se cret");
  expect(redactUrl("not a url")).toBe("not a url");
});
