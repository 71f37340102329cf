// The gateway's HTTP routes (/edge/v1/*, core/edge-messages.ts). Outside the user route table on
// purpose: they take a worker token, never a user's, and a user token opens none of them (nor a
// worker token any user route). Bodies are parsed with the shared schemas; errors go through the
// app's one error handler (api/errors.ts) as `{ error: { code, message, details } }`.

import type { Context, Hono } from "hono";
import {
  ackRequestSchema,
  eventsRequestSchema,
  EDGE_REFUSALS,
  heartbeatRequestSchema,
  logChunksRequestSchema,
  pollRequestSchema,
  registerRequestSchema,
} from "../../core/edge-messages.ts";
import { ValidationError } from "../../core/errors.ts";
import { parseOrThrow } from "../../core/zod-details.ts";
import { bearerToken } from "../tokens.ts";
import { EdgeRefusal, type EdgeGateway } from "./gateway.ts";

async function body(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new ValidationError("the body is not JSON: send an edge protocol message (core/edge-messages.ts)", [{ path: "", message: "expected a JSON object" }]);
  }
}

export function mountEdgeGateway(app: Hono, gateway: EdgeGateway): void {
  const auth = (c: Context) => gateway.authenticate(bearerToken(c.req.header("authorization")));

  app.post("/edge/v1/register", async (c) => {
    const token = await auth(c);
    const r = parseOrThrow(registerRequestSchema, await body(c), "edge register");
    return c.json(await gateway.register(token, r));
  });

  app.post("/edge/v1/poll", async (c) => {
    const bearer = bearerToken(c.req.header("authorization"));
    await gateway.authenticate(bearer);
    const p = parseOrThrow(pollRequestSchema, await body(c), "edge poll");
    return c.json({ jobs: await gateway.poll(bearer, p.session, p, c.req.raw.signal) });
  });

  app.post("/edge/v1/ack", async (c) => {
    const token = await auth(c);
    const a = parseOrThrow(ackRequestSchema, await body(c), "edge ack");
    await gateway.ack(token, a.session, a.tasks);
    return c.json({});
  });

  app.post("/edge/v1/heartbeat", async (c) => {
    const token = await auth(c);
    const h = parseOrThrow(heartbeatRequestSchema, await body(c), "edge heartbeat");
    return c.json({ kills: await gateway.heartbeat(token, h.session, h.running) });
  });

  app.post("/edge/v1/events", async (c) => {
    const token = await auth(c);
    const e = parseOrThrow(eventsRequestSchema, await body(c), "edge events");
    const outcomes = await gateway.events(token, e.session, e.events);
    if (outcomes === "forged") throw new EdgeRefusal(EDGE_REFUSALS.forged, 403, "an event names an attempt and dispatch token the Store does not hold: refused (and counted)");
    return c.json({ outcomes });
  });

  app.post("/edge/v1/logs", async (c) => {
    const token = await auth(c);
    const l = parseOrThrow(logChunksRequestSchema, await body(c), "edge log chunks");
    await gateway.logs(token, l.session, l.attempt, l.chunks);
    return c.json({});
  });
}
