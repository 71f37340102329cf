// `porpoise api`: the HTTP API node of a cluster. Postgres store (config refuses SQLite),
// Redis checked at start-up, no data directory: the admin token, when one is generated, is
// printed once and not written anywhere.

import { redactUrl } from "../config.ts";
import { type ModeDeps, Resources, type RunningMode } from "./mode.ts";
import { checkRedis } from "./redis-check.ts";
import { serveApi, stopServing } from "./serve-api.ts";

export async function startApi(deps: ModeDeps): Promise<RunningMode> {
  const { config, log } = deps;
  if (config.redis === null) throw new Error("startApi: config.redis is required (resolveConfig checks this)");
  if (config.secret === null) throw new Error("startApi: config.secret is required (resolveConfig checks this)");
  const secretKey = config.secret;
  await checkRedis(config.redis);
  const resources = new Resources(log);
  try {
    const { http } = await serveApi({ ...deps, resources, dataDir: null, secretKey });
    log.info(`porpoise api ready on ${http.url} (${config.db.dialect}: ${config.db.display}; redis: ${redactUrl(config.redis)})`);
    return {
      url: http.url,
      stop: () => stopServing({ http, resources, log, shutdownTimeoutSeconds: config.shutdownTimeout }),
    };
  } catch (err) {
    await resources.closeAll();
    throw err;
  }
}
