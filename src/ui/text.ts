// Text helpers of the editor and the version diff: a YAML writer for stored definitions (JSON
// values only, so a small one), a line diff, and the line a field path such as `tasks.1.deps.0`
// points at in YAML written by `toYaml` or by hand in the same block style.

const PLAIN = /^[A-Za-z_./][\w ./-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|~|-?\d[\d_.eE+-]*)$/i;

function scalar(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const s = String(v);
  if (s.includes("\n")) {
    // A literal block (re-indented by the caller) keeps scripts readable; it cannot start with a
    // space or a blank line (YAML takes the indentation from the first line) nor keep more than
    // one final newline (`|` keeps one, `|-` none): those stay double-quoted (JSON is valid YAML).
    if (/^[ \n]/.test(s) || s.endsWith("\n\n")) return JSON.stringify(s);
    return s.endsWith("\n") ? `|\n${s.slice(0, -1)}` : `|-\n${s}`;
  }
  return PLAIN.test(s) && !RESERVED.test(s) && !s.endsWith(" ") ? s : JSON.stringify(s);
}

function block(v: unknown, indent: string): string {
  const s = scalar(v);
  const head = /^\|-?\n/.exec(s)?.[0];
  if (!head) return ` ${s}`;
  return ` ${head.slice(0, -1)}\n${s.slice(head.length).split("\n").map((l) => (l === "" ? "" : `${indent}  ${l}`)).join("\n")}`;
}

export function toYaml(value: unknown, indent = ""): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return `${indent}[]\n`;
    return value
      .map((item) => {
        if (item !== null && typeof item === "object" && !(Array.isArray(item) && item.length === 0)) {
          const inner = toYaml(item, `${indent}  `);
          return `${indent}- ${inner.slice(indent.length + 2)}`;
        }
        return `${indent}-${block(item, indent)}\n`;
      })
      .join("");
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return `${indent}{}\n`;
    return entries
      .map(([k, v]) => {
        const key = PLAIN.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k);
        if (v !== null && typeof v === "object" && Object.keys(v).length > 0) return `${indent}${key}:\n${toYaml(v, `${indent}  `)}`;
        if (Array.isArray(v)) return `${indent}${key}: []\n`;
        if (v !== null && typeof v === "object") return `${indent}${key}: {}\n`;
        return `${indent}${key}:${block(v, indent)}\n`;
      })
      .join("");
  }
  return `${indent}${scalar(value)}\n`;
}

export interface DiffLine { kind: "same" | "add" | "del"; text: string }

/** Line diff by longest common subsequence (definitions are at most a few thousand lines). */
export function lineDiff(a: string, b: string): DiffLine[] {
  const x = a.split("\n");
  const y = b.split("\n");
  const n = x.length;
  const m = y.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) out.push({ kind: "same", text: x[i++]! }), j++;
    else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) out.push({ kind: "del", text: x[i++]! });
    else out.push({ kind: "add", text: y[j++]! });
  }
  while (i < n) out.push({ kind: "del", text: x[i++]! });
  while (j < m) out.push({ kind: "add", text: y[j++]! });
  return out;
}

/**
 * The 1-based line a field path points at in block-style YAML, or null. Walks the path: a key
 * segment finds `key:` below the current line at a deeper indent, a number finds the n-th `- `
 * item. Good enough to point the editor at the field; the error message names it either way.
 */
export function lineOfPath(yaml: string, path: string): number | null {
  const lines = yaml.split("\n");
  const indentOf = (l: string) => l.length - l.trimStart().length;
  let from = 0;
  let minIndent = -1;
  let found: number | null = null;
  for (const seg of path.split(".").filter((s) => s !== "")) {
    let hit = -1;
    if (/^\d+$/.test(seg)) {
      let count = -1;
      let itemIndent = -1;
      for (let i = from; i < lines.length; i++) {
        const l = lines[i]!;
        if (l.trim() === "" || l.trimStart().startsWith("#")) continue;
        const ind = indentOf(l);
        if (found !== null && ind <= minIndent && !l.trimStart().startsWith("- ")) break;
        if (l.trimStart().startsWith("-") && (itemIndent < 0 || ind === itemIndent)) {
          itemIndent = ind;
          if (++count === Number(seg)) {
            hit = i;
            break;
          }
        }
      }
      if (hit < 0) return found;
      minIndent = indentOf(lines[hit]!);
      from = hit;
    } else {
      const re = new RegExp(`^\\s*(- )?${seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*:`);
      for (let i = from; i < lines.length; i++) {
        const l = lines[i]!;
        if (i > from && found !== null && l.trim() !== "" && indentOf(l) <= minIndent && !(i === from)) break;
        if (re.test(l)) {
          hit = i;
          break;
        }
      }
      if (hit < 0) return found;
      minIndent = indentOf(lines[hit]!);
      from = hit + 1;
    }
    found = hit + 1;
  }
  return found;
}
