// The params a task runs with, DolphinScheduler's way (CuringParamsServiceImpl.
// paramParsingPreparation): layers from lowest to highest priority — built-ins, project,
// workflow global, upstream OUT, task local, startup — and then every value is expanded:
// `${name}` references first (so `$[yyyyMMdd-${days}]` works), then `$[...]` time expressions.
//
// Choices where DS is silent or throws:
// - a value that refers to its own name reaches the next layer down: a local `dt = ${dt}_x`
//   extends the global `dt` (DS reports a circular reference);
// - a name no layer defines stays written as is (`${HOME}`, `${setValue(k=v)}`), as DS's
//   non-strict placeholder helper does;
// - real cycles, references nested deeper than `maxDepth`, and values that grow past
//   MAX_VALUE_LENGTH are ValidationErrors naming the chain;
// - built-ins are the lowest layer, so a startup `system.biz.date` overrides it for a rerun;
//   a `system.datetime` set by a higher layer (14 digits, yyyyMMddHHmmss) also moves the base
//   time of `$[...]`, because DS reads the base of time expressions from that param.

import { ValidationError } from "../errors.ts";
import { BUILTIN } from "./builtins.ts";
import { expandTimeExpressions } from "./time-expression.ts";
import { assertTimezone, daysInMonth, fromWall } from "./zoned-time.ts";

export type Params = Readonly<Record<string, string>>;

export interface UpstreamOut {
  taskName: string;
  /** When the upstream task ended; null sorts last. */
  finishedAt: Date | number | null;
  params: Params;
}

export interface ResolveInput {
  startup?: Params;
  local?: Params;
  /** OUT params of the task's upstream tasks, in any order (see mergeUpstreamOut). */
  upstreamOut?: readonly UpstreamOut[];
  global?: Params;
  project?: Params;
  builtins?: Params;
  baseTime: Date;
  timezone: string;
  /** Longest chain of `${}` references followed; default MAX_REFERENCE_DEPTH. */
  maxDepth?: number;
}

export const MAX_REFERENCE_DEPTH = 32;
/** A value may not expand beyond this many characters (`a=${b}${b}`, `b=${c}${c}`, … doubles each level). */
export const MAX_VALUE_LENGTH = 1 << 20;

const LAYERS = ["builtin", "project", "global", "upstream", "local", "startup"] as const;

function millis(t: Date | number | null): number {
  if (t === null) return Number.POSITIVE_INFINITY;
  return typeof t === "number" ? t : t.getTime();
}

/**
 * One map from the OUT params of several upstream tasks: for a name set by more than one, a
 * non-empty value beats an empty one, then the task that finished first wins (then list order).
 */
export function mergeUpstreamOut(upstream: readonly UpstreamOut[]): Record<string, string> {
  const ordered = upstream.map((u, i) => ({ u, i })).sort((a, b) => millis(a.u.finishedAt) - millis(b.u.finishedAt) || a.i - b.i);
  const merged: Record<string, string> = {};
  for (const { u } of ordered) {
    for (const [name, value] of Object.entries(u.params)) {
      if (!Object.hasOwn(merged, name) || (merged[name] === "" && value !== "")) merged[name] = value;
    }
  }
  return merged;
}

/** Replaces `${name}` whose name `lookup` knows (nested names resolved inside out); others stay as written. */
function substitute(text: string, lookup: (name: string) => string | undefined): string {
  let start = text.indexOf("${");
  if (start < 0) return text;
  let out = "";
  let copied = 0;
  while (start >= 0) {
    let depth = 0;
    let end = -1;
    for (let i = start + 2; i < text.length; i++) {
      const c = text[i];
      if (c === "}") {
        if (depth === 0) {
          end = i;
          break;
        }
        depth--;
      } else if (c === "{") depth++;
    }
    if (end < 0) break;
    let name = text.slice(start + 2, end);
    if (name.includes("${")) name = substitute(name, lookup);
    const value = lookup(name);
    if (value !== undefined) {
      out += text.slice(copied, start) + value;
      copied = end + 1;
    }
    start = text.indexOf("${", end + 1);
  }
  return out + text.slice(copied);
}

function parseDatetime(value: string, timezone: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return null;
  return new Date(fromWall({ year, month, day, hour, minute, second, millisecond: 0 }, timezone));
}

/** Every param of every layer, resolved; throws ValidationError naming the param (`local.dt`) and what is wrong. */
export function resolveParams(input: ResolveInput): Record<string, string> {
  assertTimezone(input.timezone);
  const maxDepth = input.maxDepth ?? MAX_REFERENCE_DEPTH;
  const layers: Params[] = [
    input.builtins ?? {},
    input.project ?? {},
    input.global ?? {},
    mergeUpstreamOut(input.upstreamOut ?? []),
    input.local ?? {},
    input.startup ?? {},
  ];
  const topLayer = (name: string, below = layers.length): number => {
    for (let l = below - 1; l >= 0; l--) if (Object.hasOwn(layers[l]!, name)) return l;
    return -1;
  };
  const memo = new Map<string, string>();
  const stack: { name: string; layer: number }[] = [];
  let base = input.baseTime;

  const where = (name: string, layer: number) => `${LAYERS[layer]}.${name}`;
  const fail = (name: string, layer: number, message: string, cause?: unknown): never => {
    throw new ValidationError(`param "${name}" (${LAYERS[layer]}): ${message}`, [{ path: where(name, layer), message }], cause);
  };

  function resolve(name: string, layer: number): string {
    const key = `${layer}\u0000${name}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const open = stack.findIndex((s) => s.name === name && s.layer === layer);
    if (open >= 0) {
      const chain = [...stack.slice(open).map((s) => s.name), name].join(" → ");
      fail(name, layer, `params refer to each other in a cycle: ${chain}; break it by giving one of them a plain value`);
    }
    if (stack.length >= maxDepth) {
      fail(name, layer, `references nest deeper than ${maxDepth} levels (${[...stack.map((s) => s.name), name].join(" → ")})`);
    }
    stack.push({ name, layer });
    try {
      const raw = layers[layer]![name]!;
      let value = substitute(raw, (ref) => {
        const target = ref === name ? topLayer(ref, layer) : topLayer(ref);
        return target < 0 ? undefined : resolve(ref, target);
      });
      if (value.length > MAX_VALUE_LENGTH) fail(name, layer, `expands to more than ${MAX_VALUE_LENGTH} characters`);
      try {
        value = expandTimeExpressions(value, { baseTime: base, timezone: input.timezone });
      } catch (e) {
        if (e instanceof ValidationError) fail(name, layer, e.message, e);
        throw e;
      }
      memo.set(key, value);
      return value;
    } finally {
      stack.pop();
    }
  }

  const datetimeLayer = topLayer(BUILTIN.datetime);
  if (datetimeLayer > 0) {
    const value = resolve(BUILTIN.datetime, datetimeLayer);
    const parsed = parseDatetime(value, input.timezone);
    if (!parsed) fail(BUILTIN.datetime, datetimeLayer, `expected a time as yyyyMMddHHmmss (it is the base of $[...] expressions), got ${JSON.stringify(value)}`);
    base = parsed!;
    memo.clear(); // values computed so far used the old base
    memo.set(`${datetimeLayer}\u0000${BUILTIN.datetime}`, value);
  }

  const out: Record<string, string> = {};
  const names = new Set(layers.flatMap((l) => Object.keys(l)));
  for (const name of names) out[name] = resolve(name, topLayer(name));
  return out;
}
