// Optimistic concurrency for workflow edits: the version the editor started
// from, given as If-Match (an ETag from GET) or as ?expectedVersion=.

import { ValidationError } from "../core/errors.ts";
import { MAX_INT32 } from "./schemas.ts";

export function expectedVersion(ifMatch: string | undefined, fromQuery: number | undefined): number | undefined {
  let fromHeader: number | undefined;
  if (ifMatch !== undefined && ifMatch.trim() !== "*") {
    const m = /^\s*(?:W\/)?"?([1-9][0-9]{0,9})"?\s*$/.exec(ifMatch);
    if (!m || Number(m[1]) > MAX_INT32) {
      throw new ValidationError(`If-Match must be a workflow version such as "3", got ${JSON.stringify(ifMatch)}`, [
        { path: "If-Match", message: "expected a version number" },
      ]);
    }
    fromHeader = Number(m[1]);
  }
  if (fromHeader !== undefined && fromQuery !== undefined && fromHeader !== fromQuery) {
    throw new ValidationError(`If-Match (${fromHeader}) and expectedVersion (${fromQuery}) disagree: send one of them`, [
      { path: "expectedVersion", message: "differs from If-Match" },
    ]);
  }
  return fromHeader ?? fromQuery;
}
