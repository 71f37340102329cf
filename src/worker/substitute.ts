// `${name}` substitution in task text (script, SQL, URL, headers, body), as DolphinScheduler's
// ParameterUtils.convertParameterPlaceholders does (a Spring-style placeholder helper in
// non-strict mode):
//
// - `${name}` with a known name is replaced by its value; an unknown name is left as written
//   (so `${setValue(k=v)}` and bash's own `${HOME}` or `${x:-default}` pass through);
// - braces nest: the placeholder ends at the "}" matching its "${", and a name built from
//   another placeholder (`${a_${env}}`) is resolved inside out; an unresolved placeholder is
//   skipped whole, including what is nested in it (DS does the same);
// - unlike DS, an inserted value is NOT scanned again: a value that contains `${other}` stays
//   literal. Resolving params that refer to params belongs to params resolution (the caller
//   hands in a ready map); re-expanding here would let a value pull in other values and
//   could loop (DS throws "Circular placeholder reference").
//
// Values are inserted verbatim, so a script that writes `${name}` runs whatever the value
// contains. Params are therefore also exported as environment variables (`paramsToEnv`):
// `"$name"` in a script reads the value as data, never as code.

import { expandTimeExpressions, type TimeContext } from "../core/params/index.ts";
import { reservedEnvReason } from "../core/task-env-names.ts";

const PREFIX = "${";

function closingBrace(text: string, start: number): number {
  let depth = 0;
  for (let i = start + PREFIX.length; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7d /* } */) {
      if (depth === 0) return i;
      depth--;
    } else if (c === 0x7b /* { */) depth++; // any "{", as DS counts them
  }
  return -1;
}

/** Replaces `${name}` placeholders whose name is in `params`; everything else is left as is. */
export function substituteParams(text: string, params: Readonly<Record<string, string>>): string {
  let start = text.indexOf(PREFIX);
  if (start < 0) return text;
  let out = "";
  let copied = 0;
  while (start >= 0) {
    const end = closingBrace(text, start);
    if (end < 0) break;
    let name = text.slice(start + PREFIX.length, end);
    if (name.includes(PREFIX)) name = substituteParams(name, params);
    if (Object.hasOwn(params, name)) {
      out += text.slice(copied, start) + params[name];
      copied = end + 1;
    }
    start = text.indexOf(PREFIX, end + 1);
  }
  return out + text.slice(copied);
}

/**
 * Task text as it runs: `${name}` substituted, then `$[...]` time expressions expanded on
 * `clock` (so `$[yyyyMMdd-${days}]` works). A bad `$[...]` throws a ValidationError naming it.
 */
export function renderText(text: string, params: Readonly<Record<string, string>>, clock?: TimeContext): string {
  const substituted = substituteParams(text, params);
  return clock ? expandTimeExpressions(substituted, clock) : substituted;
}

/** The environment variable name of a param: characters other than letters, digits and "_" become "_"; a leading digit gets a "_" prefix. */
export function envNameOf(param: string): string {
  const name = param.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

export interface ParamsEnv {
  env: Record<string, string>;
  /** Params not exported, with why (reserved name, or a name another param already took). */
  skipped: { param: string; reason: string }[];
}

/**
 * Params as environment variables. `system.biz.date` → `system_biz_date`. When two params map
 * to the same name, a param already spelt that way wins, else the first in sorted order;
 * the other is skipped (still substituted as `${…}`). Reserved names are never exported.
 */
export function paramsToEnv(params: Readonly<Record<string, string>>): ParamsEnv {
  const env: Record<string, string> = {};
  const owner = new Map<string, string>();
  const skipped: ParamsEnv["skipped"] = [];
  const names = Object.keys(params).sort((a, b) => {
    const exactA = envNameOf(a) === a ? 0 : 1;
    const exactB = envNameOf(b) === b ? 0 : 1;
    return exactA - exactB || (a < b ? -1 : a > b ? 1 : 0);
  });
  for (const param of names) {
    const name = envNameOf(param);
    // PATH, HOME, LD_PRELOAD, BASH_ENV, …: a param (possibly an upstream OUT value) must not
    // set them (core/task-env-names.ts says which and why).
    const reserved = reservedEnvReason(name);
    if (reserved !== null) {
      skipped.push({ param, reason: `${name} is reserved (${reserved}); see "Task environment" in the README` });
      continue;
    }
    const taken = owner.get(name);
    if (taken !== undefined) {
      skipped.push({ param, reason: `its variable name ${name} is taken by param "${taken}"` });
      continue;
    }
    owner.set(name, param);
    env[name] = params[param]!;
  }
  return { env, skipped };
}
