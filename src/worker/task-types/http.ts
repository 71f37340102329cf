// http: one request; `${name}` is substituted in the URL, header values and body.
//
// - success: the status is one of `expectedStatus` (any 2xx when left out) and, when
//   `bodyContains` is given, the body contains it (searched in the first MAX_CHECK_BYTES);
// - `requestTimeout` bounds the whole request, body included: FAILURE "timed out";
//   an abort (stop, FAILED task timeout) cancels the request: KILL;
// - the log gets the method, the URL (password hidden), the status and the body cut at
//   MAX_LOGGED_BODY_BYTES; header values are never logged (they carry tokens);
// - OUT params: `response` (the body, cut the same way) and `responseStatus`.
// - redirects are followed by hand, at most MAX_REDIRECTS: a hop to another origin (scheme,
//   host or port) drops EVERY header the task set (Authorization, Cookie, X-Api-Key, whatever a
//   task calls its secret: no list can know them all); 303, and 301/302 after a POST, go on as
//   GET without a body; only http(s) targets are followed.
// - every hop passes the egress policy (worker/egress.ts): the host is resolved once, checked,
//   and the connection goes to that checked address (Host header and TLS server name keep the
//   name, so virtual hosts and certificates work as before).

import { redactUrl } from "../../core/redact-url.ts";
import type { HttpTask } from "../../core/workflow-schema.ts";
import { checkedAddress, defaultEgress, type Egress } from "../egress.ts";
import { renderText } from "../substitute.ts";
import type { TaskLogWriter } from "../task-log.ts";
import { errorText, type TaskResult, type TaskRunner } from "./types.ts";

export const MAX_LOGGED_BODY_BYTES = 64 * 1024;
const MAX_CHECK_BYTES = 1024 * 1024;
export const HTTP_RESPONSE_PARAM = "response";
export const HTTP_STATUS_PARAM = "responseStatus";
export const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface Request {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** One hop, to the address the egress policy checked. */
async function sendChecked(req: Request, egress: Egress, signal: AbortSignal): Promise<Response> {
  const address = await checkedAddress(egress, req.url.hostname);
  const target = new URL(req.url);
  // Any v6 spelling (::ffff:a.b.c.d included) needs brackets; the URL setter ignores a bad host.
  target.hostname = address.includes(":") ? `[${address}]` : address;
  const headers = new Headers(req.headers);
  headers.set("host", req.url.host);
  const tls = req.url.protocol === "https:" ? { serverName: req.url.hostname.replace(/^\[|\]$/g, "") } : undefined;
  return fetch(target, { method: req.method, headers, body: req.body, signal, redirect: "manual", ...(tls ? { tls } : {}) } as RequestInit);
}

/** Follows redirects by hand (see the header comment); the last response. */
async function sendFollowing(first: Request, egress: Egress, signal: AbortSignal, log: TaskLogWriter): Promise<Response> {
  let req = first;
  for (let hop = 0; ; hop++) {
    const response = await sendChecked(req, egress, signal);
    const location = response.headers.get("location");
    if (!REDIRECTS.has(response.status) || location === null) return response;
    await response.body?.cancel().catch(() => {});
    if (hop === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects (the last one to ${redactUrl(new URL(location, req.url).toString())})`);
    const next = new URL(location, req.url);
    if (next.protocol !== "http:" && next.protocol !== "https:") throw new Error(`redirect to ${next.protocol} is not followed: only http and https`);
    const crossOrigin = next.origin !== req.url.origin;
    const toGet = response.status === 303 || ((response.status === 301 || response.status === 302) && req.method === "POST");
    log.write("sys", `HTTP ${response.status} → ${redactUrl(next.toString())}${crossOrigin ? " (another origin: the task's headers are not sent there)" : ""}`);
    req = {
      url: next,
      method: toGet && req.method !== "HEAD" ? "GET" : req.method,
      headers: crossOrigin ? {} : req.headers,
      body: toGet ? undefined : req.body,
    };
  }
}

async function readCapped(response: Response, cap: number): Promise<{ bytes: Uint8Array; complete: boolean }> {
  if (!response.body) return { bytes: new Uint8Array(), complete: true };
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size >= cap) {
      await reader.cancel().catch(() => {});
      break;
    }
  }
  const all = Buffer.concat(chunks);
  return { bytes: all.byteLength > cap ? all.subarray(0, cap) : all, complete: size < cap };
}

function statusAccepted(status: number, expected: HttpTask["expectedStatus"]): boolean {
  if (expected === undefined) return status >= 200 && status <= 299;
  return Array.isArray(expected) ? expected.includes(status) : status === expected;
}

export const httpRunner: TaskRunner<HttpTask> = {
  async run({ task, params, log, signal, clock, egress }): Promise<TaskResult> {
    const url = renderText(task.url, params, clock);
    const shownUrl = redactUrl(url);
    const fail = (message: string, outParams: Record<string, string> = {}): TaskResult => {
      log.write("sys", message);
      return { state: "FAILURE", outParams, message };
    };
    if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) return fail(`not a valid http(s) URL after substitution: ${shownUrl}`);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(task.headers)) headers[name] = renderText(value, params, clock);
    const body = task.body === undefined ? undefined : renderText(task.body, params, clock);

    const timeout = task.requestTimeout === undefined ? null : AbortSignal.timeout(task.requestTimeout * 1000);
    const requestSignal = timeout ? AbortSignal.any([signal, timeout]) : signal;
    log.write("sys", `${task.method} ${shownUrl}`);
    let status: number;
    let text: string;
    let complete: boolean;
    try {
      const response = await sendFollowing({ url: new URL(url), method: task.method, headers, body }, egress ?? defaultEgress, requestSignal, log);
      status = response.status;
      const read = await readCapped(response, MAX_CHECK_BYTES);
      complete = read.complete;
      text = new TextDecoder().decode(read.bytes);
      log.write("sys", `HTTP ${status} ${response.statusText}`.trimEnd());
    } catch (err) {
      if (signal.aborted) {
        log.write("sys", "request cancelled: stopped");
        return { state: "KILL", outParams: {}, message: "stopped" };
      }
      if (timeout?.aborted) return fail(`request timed out after ${task.requestTimeout}s (requestTimeout)`);
      return fail(`request failed: ${errorText(err)}`);
    }

    const logged = Buffer.byteLength(text) > MAX_LOGGED_BODY_BYTES ? Buffer.from(text).subarray(0, MAX_LOGGED_BODY_BYTES).toString() : text;
    const cut = logged.length < text.length || !complete;
    if (logged !== "") log.write("out", logged.endsWith("\n") ? logged.slice(0, -1) : logged);
    if (cut) log.write("sys", `response body cut at ${MAX_LOGGED_BODY_BYTES} bytes in the log and the ${HTTP_RESPONSE_PARAM} param`);
    const outParams = { [HTTP_RESPONSE_PARAM]: logged, [HTTP_STATUS_PARAM]: String(status) };

    if (!statusAccepted(status, task.expectedStatus)) {
      const wanted = task.expectedStatus === undefined ? "any 2xx" : [task.expectedStatus].flat().join(" or ");
      return fail(`unexpected status ${status}: expected ${wanted}`, outParams);
    }
    if (task.bodyContains !== undefined && !text.includes(task.bodyContains)) {
      const where = complete ? "the response body" : `the first ${MAX_CHECK_BYTES} bytes of the response body`;
      return fail(`${where} does not contain ${JSON.stringify(task.bodyContains)} (bodyContains)`, outParams);
    }
    return { state: "SUCCESS", outParams };
  },
};
