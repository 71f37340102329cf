// Request bodies are read here and nowhere else, so the size limit holds on
// every route: a declared Content-Length over the limit is refused before
// reading, and the stream itself is counted, because a Content-Length can be
// absent (chunked) or lie.

import { PayloadTooLargeError, ValidationError } from "../core/errors.ts";
import { findJsonError, lineColumn, parseWorkflowDocument } from "../core/workflow-text.ts";
import { UnsupportedMediaTypeError } from "./errors.ts";

export type BodyFormat = "json" | "yaml";

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

const YAML_TYPES = new Set(["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"]);

/** 413 as soon as the declared length is over the limit; the stream is checked again when read. */
export function checkDeclaredLength(req: Request, maxBytes: number): void {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw new PayloadTooLargeError(maxBytes);
}

/** The body as UTF-8 text, or "" when there is none. */
export async function readBodyText(req: Request, maxBytes: number): Promise<string> {
  checkDeclaredLength(req, maxBytes);
  if (req.body === null) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new PayloadTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new ValidationError("request body is not valid UTF-8 text", [{ path: "", message: "expected UTF-8" }]);
  }
}

/** Which parser reads this request's body; 415 for a content type the route does not take. */
export function bodyFormat(contentType: string | undefined, acceptYaml: boolean): BodyFormat {
  const media = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (media === "" || media === "application/json" || media.endsWith("+json")) return "json";
  if (acceptYaml && YAML_TYPES.has(media)) return "yaml";
  throw new UnsupportedMediaTypeError(
    media,
    acceptYaml ? ["application/json", "application/yaml (or text/yaml)"] : ["application/json"],
  );
}

/** Parses a body; syntax errors name the line and column where they are known. */
export function decodeBody(text: string, format: BodyFormat): unknown {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  if (body.trim() === "") {
    throw new ValidationError(`request body is empty: send a ${format.toUpperCase()} document`, [
      { path: "", message: "body required" },
    ]);
  }
  return format === "json" ? decodeJson(body) : decodeYaml(body);
}

function decodeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const found = findJsonError(text);
    const at = found ? lineColumn(text, found.offset) : null;
    const problem = found && at ? `${found.reason} at line ${at.line}, column ${at.column}` : (err as Error).message;
    throw new ValidationError(`malformed JSON body: ${problem}`, [{ path: "", message: problem }], err);
  }
}

// YAML is only read on workflow routes; the workflow text parser locates YAML
// syntax errors and refuses alias bombs (a small body standing for a huge tree).
function decodeYaml(text: string): unknown {
  return parseWorkflowDocument(text, "yaml", "request body");
}
