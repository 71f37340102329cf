// Real receivers for alert tests: an HTTP server that records every request (webhook, Slack and
// PagerDuty shapes) and can answer 500 a given number of times, and a real SMTP server (the
// smtp-server package) with STARTTLS (its built-in self-signed certificate) and AUTH.

import { SMTPServer } from "smtp-server";

export interface Received {
  path: string;
  search: string;
  headers: Record<string, string>;
  body: string;
  json: any;
  status: number;
}

export interface HttpReceiver extends AsyncDisposable {
  url: string;
  got: Received[];
  /** The next `n` requests to `path` answer 500. */
  failNext(path: string, n: number): void;
  /** Requests to `path` are recorded and never answered until `answer()` (a receiver that hangs). */
  hang(path: string): void;
  answer(): void;
  on(path: string): Received[];
}

export function httpReceiver(): HttpReceiver {
  const got: Received[] = [];
  const failures = new Map<string, number>();
  const hanging = new Set<string>();
  let release: () => void = () => {};
  let released = new Promise<void>((r) => (release = r));
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const u = new URL(req.url);
      const body = await req.text();
      if (hanging.has(u.pathname)) {
        got.push({ path: u.pathname, search: u.search, headers: Object.fromEntries(req.headers), body, json: null, status: 0 });
        await released;
        return new Response("late", { status: 503 });
      }
      const left = failures.get(u.pathname) ?? 0;
      const status = left > 0 ? 500 : 202;
      if (left > 0) failures.set(u.pathname, left - 1);
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {}
      got.push({ path: u.pathname, search: u.search, headers: Object.fromEntries(req.headers), body, json, status });
      // A path under /echo/ is repeated in the answer, as some receivers do with what they were sent.
      const answer = u.pathname.startsWith("/echo/") ? `no hook at ${u.pathname}` : status === 500 ? "receiver down" : "ok";
      return new Response(answer, { status });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    got,
    failNext: (path, n) => void failures.set(path, n),
    hang: (path) => void hanging.add(path),
    answer: () => {
      hanging.clear();
      release();
      released = new Promise<void>((r) => (release = r));
    },
    on: (path) => got.filter((r) => r.path === path),
    [Symbol.asyncDispose]: async () => {
      release();
      await server.stop(true);
    },
  };
}

export interface Mail {
  from: string;
  to: string[];
  user: string | undefined;
  secure: boolean;
  /** The message source, quoted-printable soft breaks and escapes decoded. */
  text: string;
}

export interface SmtpReceiver extends AsyncDisposable {
  port: number;
  mails: Mail[];
}

const decodeQuotedPrintable = (s: string) => s.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));

/** `secure`: TLS from the first byte (port-465 style), else plain with STARTTLS offered. Both use smtp-server's built-in self-signed certificate. */
export async function smtpReceiver(auth: { user: string; pass: string }, opts: { secure?: boolean } = {}): Promise<SmtpReceiver> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    logger: false,
    secure: opts.secure ?? false,
    authMethods: ["PLAIN", "LOGIN"],
    onAuth(a, _session, cb) {
      if (a.username === auth.user && a.password === auth.pass) cb(null, { user: a.username });
      else cb(new Error("Invalid username or password"));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          secure: session.secure,
          text: decodeQuotedPrintable(Buffer.concat(chunks).toString("utf8")),
        });
        cb();
      });
    },
  });
  // A client that gives up mid-handshake is the test's business, not an unhandled error.
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.server.address() as { port: number }).port;
  return { port, mails, [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
