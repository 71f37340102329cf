import { describe, expect, test } from "bun:test";
import { envNameOf, paramsToEnv, substituteParams } from "../../../src/worker/substitute.ts";

describe("${name} substitution", () => {
  const params = { name: "world", "system.biz.date": "20250101", dt: "2025", env: "prod", a_prod: "A", empty: "", code: "$(touch pwned)", ref: "${name}" };
  const cases: [string, string, string][] = [
    ["known name", "hello ${name}", "hello world"],
    ["several, repeated", "${name}-${name}-${dt}", "world-world-2025"],
    ["dotted names", "d=${system.biz.date}", "d=20250101"],
    ["unknown names are left as written", "${nope} ${HOME} ${x:-default}", "${nope} ${HOME} ${x:-default}"],
    ["setValue markers pass through", "echo '${setValue(k=${name})}'", "echo '${setValue(k=${name})}'"],
    ["#{} is not a placeholder", "echo '#{setValue(k=${name})}'", "echo '#{setValue(k=world)}'"],
    ["nested name resolved inside out", "${a_${env}}", "A"],
    ["empty value", "[${empty}]", "[]"],
    ["values are not scanned again", "${ref}", "${name}"],
    ["values are inserted verbatim", "echo ${code}", "echo $(touch pwned)"],
    ["unterminated placeholder", "${name", "${name"],
    ["no placeholder", "plain $name text", "plain $name text"],
    ["text around kept", "a${name}b${dt}c", "aworldb2025c"],
  ];
  for (const [what, text, expected] of cases) test(what, () => expect(substituteParams(text, params)).toBe(expected));

  test("prototype names are not params", () => {
    expect(substituteParams("${constructor} ${toString}", {})).toBe("${constructor} ${toString}");
  });
});

describe("params as environment variables", () => {
  test("names are made env-safe", () => {
    expect(envNameOf("system.biz.date")).toBe("system_biz_date");
    expect(envNameOf("my-param")).toBe("my_param");
    expect(envNameOf("plain_Name1")).toBe("plain_Name1");
    expect(envNameOf("9lives")).toBe("_9lives");
  });

  test("values are exported as they are", () => {
    const { env, skipped } = paramsToEnv({ "system.biz.date": "20250101", msg: "$(rm -rf x); touch pwned" });
    expect(env).toEqual({ system_biz_date: "20250101", msg: "$(rm -rf x); touch pwned" });
    expect(skipped).toEqual([]);
  });

  test("a param spelt like the variable wins a name collision; the other is reported", () => {
    const { env, skipped } = paramsToEnv({ "a.b": "dotted", a_b: "exact", "a-b": "dashed" });
    expect(env).toEqual({ a_b: "exact" });
    expect(skipped.map((s) => s.param).sort()).toEqual(["a-b", "a.b"]);
    expect(skipped[0]!.reason).toContain('taken by param "a_b"');
  });

  test("reserved interpreter variables are never exported", () => {
    const { env, skipped } = paramsToEnv({ BASH_ENV: "/tmp/x", LD_PRELOAD: "/tmp/x.so", PYTHONSTARTUP: "/tmp/x.py", IFS: "x", ok: "1" });
    expect(env).toEqual({ ok: "1" });
    expect(skipped.map((s) => s.param).sort()).toEqual(["BASH_ENV", "IFS", "LD_PRELOAD", "PYTHONSTARTUP"]);
  });

  test("PATH, HOME, TMPDIR, USER, SHELL, LANG, LC_*, NODE_OPTIONS, PERL5LIB are never exported; lower case or other names are", () => {
    const reserved = ["PATH", "HOME", "TMPDIR", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "NODE_OPTIONS", "PERL5LIB", "GIT_SSH_COMMAND", "ENV"];
    const { env, skipped } = paramsToEnv(Object.fromEntries([...reserved, "path", "home_dir", "PATHS"].map((n) => [n, "/evil"])));
    expect(Object.keys(env).sort()).toEqual(["PATHS", "home_dir", "path"]);
    expect(skipped.map((s) => s.param).sort()).toEqual([...reserved].sort());
    expect(skipped.find((s) => s.param === "PATH")!.reason).toContain("PATH is reserved (porpoise sets it for every task)");
  });
});
