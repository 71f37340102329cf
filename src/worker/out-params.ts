// DolphinScheduler OUT parameters: a task passes values downstream by printing
// `${setValue(key=value)}` (or `#{setValue(key=value)}`) anywhere in an output line.
//
// - several markers per line are allowed; the last value of a key wins within the attempt;
// - the key is trimmed and must be non-empty; the value is everything after the first "="
//   up to the first ")}" and is kept verbatim (spaces, "=", braces, empty are fine);
//   so a value cannot contain ")}" — that closes the marker, as in DS;
// - a marker without "=" or without its closing ")}" on the same line is ignored.

const MARKER = /[$#]\{setValue\((.*?)\)\}/g;

/** Adds the OUT params found in one output line to `into`. */
export function scanOutParams(line: string, into: Map<string, string>): void {
  // Cheap test first: almost no line has a marker, and this runs on every line of output.
  if (!line.includes("{setValue(")) return;
  for (const match of line.matchAll(MARKER)) {
    const body = match[1]!;
    const eq = body.indexOf("=");
    if (eq < 0) continue;
    const key = body.slice(0, eq).trim();
    if (key === "") continue;
    // Delete first so a re-set key moves to the end: iteration order is "last set".
    into.delete(key);
    into.set(key, body.slice(eq + 1));
  }
}

/** OUT params of a whole output text (tests, and runners that get their output in one piece). */
export function parseOutParams(text: string): Record<string, string> {
  const found = new Map<string, string>();
  for (const line of text.split("\n")) scanOutParams(line, found);
  return Object.fromEntries(found);
}
