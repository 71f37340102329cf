// Request bodies are read here and nowhere else, so the size limit holds on
// every route: a declared Content-Length over the limit is refused before
// reading, and the stream itself is counted, because a Content-Length can be
// absent (chunked) or lie.

import { PayloadTooLargeError, ValidationError } from "../core/errors.ts";
import { findJsonError, MAX_YAML_VALUES, parseWorkflowText } from "../core/workflow-text.ts";
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
    const problem = found ? `${found.reason} at ${lineColumn(text, found.offset)}` : (err as Error).message;
    throw new ValidationError(`malformed JSON body: ${problem}`, [{ path: "", message: problem }], err);
  }
}

function decodeYaml(text: string): unknown {
  let value: unknown;
  try {
    value = Bun.YAML.parse(text);
  } catch (err) {
    // YAML is only read on workflow routes, and the workflow text parser knows how
    // to locate a YAML syntax error; let it say where.
    try {
      parseWorkflowText(text, "yaml");
    } catch (located) {
      if (located instanceof ValidationError) throw located;
    }
    const problem = (err as Error).message;
    throw new ValidationError(`malformed YAML body: ${problem}`, [{ path: "", message: problem }], err);
  }
  checkValueCount(value);
  return value;
}

function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return `line ${line}, column ${offset - before.lastIndexOf("\n")}`;
}

// YAML aliases let a small body stand for a huge tree. Counting with a hard
// stop costs at most the budget, never the full expansion.
function checkValueCount(value: unknown): void {
  const stack: unknown[] = [value];
  let count = 0;
  while (stack.length > 0) {
    const item = stack.pop();
    if (++count + stack.length > MAX_YAML_VALUES) {
      const message = `YAML body expands to more than ${MAX_YAML_VALUES} values (anchors and aliases?); a workflow needs far fewer`;
      throw new ValidationError(message, [{ path: "", message }]);
    }
    if (item !== null && typeof item === "object") {
      for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push(child);
    }
  }
}
