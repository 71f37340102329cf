// Bun.serve around a fetch handler, with the two things every serving mode needs: a clear
// error when the address is taken, and a graceful stop (stop accepting, let in-flight requests
// finish until a deadline, then cut the rest).

import { PorpoiseError } from "../core/errors.ts";

export interface HttpServer {
  /** `http://host:port` (`https://` with TLS) with the port actually bound (port 0 picks one). */
  readonly url: string;
  readonly port: number;
  /** Resolves when in-flight requests are done or `deadlineMs` has passed, whichever is first. Idempotent. */
  stop(deadlineMs: number): Promise<{ drained: boolean }>;
}

export class ListenError extends PorpoiseError {
  constructor(message: string, cause: unknown) {
    super("LISTEN_FAILED", 500, message, { cause });
  }
}

export function startHttpServer(opts: {
  /** `clientIp` is the TCP peer's address (null when Bun cannot say). */
  fetch: (req: Request, clientIp: string | null) => Response | Promise<Response>;
  host: string;
  port: number;
  maxBodyBytes: number;
  /** PEM files; with them the server speaks HTTPS only. */
  tls?: { cert: string; key: string } | null;
  /** The flag that sets the port, named when it is taken (default --port). */
  portFlag?: string;
  /** Seconds a request may stay silent (Bun's default idle timeout is 10 s); undefined: the default. */
  idleSecondsFor?: (req: Request) => number | undefined;
}): HttpServer {
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: opts.host,
      port: opts.port,
      // The API counts body bytes itself and answers 413 with a JSON error; this cap is only
      // the backstop against bodies far over the limit, so it sits above the API's.
      maxRequestBodySize: opts.maxBodyBytes * 2,
      fetch: (req, srv) => {
        const idle = opts.idleSecondsFor?.(req);
        if (idle !== undefined) srv.timeout(req, idle);
        return opts.fetch(req, srv.requestIP(req)?.address ?? null);
      },
      ...(opts.tls ? { tls: { cert: Bun.file(opts.tls.cert), key: Bun.file(opts.tls.key) } } : {}),
    });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const reason = code === "EADDRINUSE" ? "the address is already in use" : code === "EACCES" ? "permission denied" : (err as Error).message;
    if (opts.tls && code !== "EADDRINUSE" && code !== "EACCES") {
      throw new ListenError(`cannot serve HTTPS with --tls-cert ${opts.tls.cert} and --tls-key ${opts.tls.key}: ${reason}; pass a PEM certificate and its PEM private key`, err);
    }
    throw new ListenError(
      `cannot listen on ${opts.host}:${opts.port}: ${reason}; pass another ${opts.portFlag ?? "--port"} (0 picks a free one) or --host`,
      err,
    );
  }
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const port = server.port as number;
  let stopped: Promise<{ drained: boolean }> | null = null;
  return {
    url: `${opts.tls ? "https" : "http"}://${host}:${port}`,
    port,
    stop(deadlineMs) {
      stopped ??= drain(server, deadlineMs);
      return stopped;
    },
  };
}

async function drain(server: ReturnType<typeof Bun.serve>, deadlineMs: number): Promise<{ drained: boolean }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), deadlineMs);
  });
  const result = await Promise.race([server.stop(false).then(() => "drained" as const), deadline]);
  clearTimeout(timer);
  if (result === "late") await server.stop(true);
  return { drained: result === "drained" };
}
