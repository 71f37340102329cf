// A TCP proxy a test controls, to cut one process off from a server (Postgres, Redis, an api
// node) while everyone else still reaches it. `cut()` resets every connection through it and
// refuses new ones until `restore()`; the server itself never notices anything but closed
// sessions.
//
//   await using proxy = await tcpProxy({ host: "127.0.0.1", port: 5432 });
//   …point the process at 127.0.0.1:${proxy.port}…
//   proxy.cut(); …; proxy.restore();

import { createConnection, createServer, type Server, type Socket } from "node:net";

export interface TcpProxy extends AsyncDisposable {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** Resets every open connection and refuses new ones. */
  cut(): void;
  /** Accepts connections again. */
  restore(): void;
  /** Connections accepted so far (diagnostics). */
  readonly accepted: number;
}

export async function tcpProxy(upstream: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let blocked = false;
  let accepted = 0;
  const server: Server = createServer((client) => {
    if (blocked) {
      client.resetAndDestroy();
      return;
    }
    accepted += 1;
    const server = createConnection({ host: upstream.host, port: upstream.port });
    open.add(client);
    open.add(server);
    const close = () => {
      open.delete(client);
      open.delete(server);
      client.destroy();
      server.destroy();
    };
    client.on("error", close).on("close", close);
    server.on("error", close).on("close", close);
    client.pipe(server);
    server.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("tcpProxy: no port");
  return {
    port: address.port,
    get accepted() {
      return accepted;
    },
    cut() {
      blocked = true;
      for (const s of [...open]) s.resetAndDestroy();
      open.clear();
    },
    restore() {
      blocked = false;
    },
    async [Symbol.asyncDispose]() {
      blocked = true;
      for (const s of [...open]) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
