// What each mode needs besides valid settings (config.ts resolveConfig calls it last): the
// cluster modes a Postgres store, Redis and the shared secret; a worker either Redis (datacenter)
// or a gateway and its token (edge); HTTPS both a certificate and its key.

import type { Config } from "../config.ts";
import { ConfigError } from "../core/errors.ts";
import type { ConfigCommand, ConfigKey } from "./settings.ts";

const clusterSecretHint = "pass --secret <at least 16 characters> (or PORPOISE_SECRET), the same value on every node";
const redisHint = "pass --redis redis://host:6379 (or PORPOISE_REDIS)";

export function checkRequirements(command: ConfigCommand, c: Config, sources: Partial<Record<ConfigKey, string>>): void {
  const needs: string[] = [];
  if ((sources.tlsCert === undefined) !== (sources.tlsKey === undefined)) {
    const [given, missing] = sources.tlsCert === undefined ? ["tls-key", "tls-cert"] : ["tls-cert", "tls-key"];
    needs.push(`--${missing} as well: --${given} was given (HTTPS needs both the certificate and its key)`);
  }
  if (command === "api" || command === "master") {
    if (c.db.dialect !== "postgres") {
      const given = sources.db ? `, but db = ${JSON.stringify(c.db.display)} (from ${sources.db}) is SQLite` : "";
      needs.push(`a Postgres store${given}: pass --db postgres://user@host:5432/porpoise (or PORPOISE_DB)`);
    }
    if (c.redis === null) needs.push(`Redis: ${redisHint}`);
    if (c.secret === null) needs.push(`the shared cluster secret: ${clusterSecretHint}`);
  }
  if (command === "worker") {
    if (c.redis !== null && c.gateway !== null) {
      needs.push(`either --redis (datacenter worker) or --gateway (edge worker), not both: redis came from ${sources.redis}, gateway from ${sources.gateway}`);
    } else if (c.gateway !== null) {
      if (c.token === null) needs.push("a worker token for the gateway: pass --token <token> (or PORPOISE_TOKEN)");
    } else if (c.redis !== null) {
      if (c.secret === null) needs.push(`the shared cluster secret: ${clusterSecretHint}`);
      if (c.db.dialect !== "postgres") {
        needs.push("the cluster's Postgres store, which it reads what it runs from: pass --db postgres://user@host:5432/porpoise (or PORPOISE_DB)");
      }
    } else {
      needs.push(`a way to receive tasks: ${redisHint} with --secret (datacenter worker), or pass --gateway https://api-host:12345 --token <token> (edge worker)`);
    }
  }
  if (needs.length > 0) {
    throw new ConfigError(needs.map((n) => `porpoise ${command} needs ${n}`).join("\n"), needs.map((n) => ({ path: command, message: n })));
  }
}
