// Sends one AlertMessage to one channel and says how it went: ok, or why not and whether trying
// again may help (network errors, timeouts, 408/429/5xx, SMTP trouble: yes; any other 4xx: no).
// Every destination passes the egress policy first (core/net/egress.ts: link-local and cloud
// metadata addresses are refused unless allowed), redirects are not followed, and each request
// has a deadline, so a slow receiver delays only its own delivery loop.

import { EgressDeniedError } from "./egress-check.ts";
import { type AlertEgress, checkHost } from "./egress-check.ts";
import type { AlertAction } from "../core/alert-events.ts";
import type { AlertChannelForDelivery } from "../store/store.ts";
import type { EmailSettings, PagerDutySettings, SlackSettings, WebhookSettings } from "./channel-types.ts";
import { CHANNEL_SCHEMAS } from "./channel-types.ts";
import { sendEmail } from "./email-sender.ts";
import { type HttpRequestSpec, pagerDutyRequest, slackRequest, webhookRequest } from "./http-senders.ts";
import type { AlertMessage } from "./templates.ts";

export interface SendResult {
  ok: boolean;
  retryable: boolean;
  /** HTTP status and the start of the answer, or the error; never a secret (URLs are not repeated). */
  detail: string;
}

export interface SendContext {
  egress: AlertEgress;
  /** PagerDuty's dedup key for this row (stable per policy and target). */
  dedupKey: string;
  now: Date;
  timeoutMs: number;
}

export async function sendToChannel(channel: AlertChannelForDelivery, m: AlertMessage, action: Exclude<AlertAction, "skip">, ctx: SendContext): Promise<SendResult> {
  const result = await attempt(channel, m, action, ctx);
  return { ...result, detail: scrub(result.detail, channel.secrets) };
}

/**
 * The detail with every secret value (and a secret URL's path and query, where chat tools keep
 * their token) replaced by ***: it is stored, shown by the API and logged.
 */
function scrub(detail: string, secrets: Record<string, string>): string {
  const hidden = new Set<string>();
  for (const value of Object.values(secrets)) {
    if (value.length >= 4) hidden.add(value);
    try {
      const u = new URL(value);
      if (u.pathname.length > 1) hidden.add(u.pathname);
      if (u.search.length > 1) hidden.add(u.search.slice(1));
    } catch {}
  }
  let out = detail;
  for (const h of [...hidden].sort((a, b) => b.length - a.length)) out = out.split(h).join("***");
  return out;
}

async function attempt(channel: AlertChannelForDelivery, m: AlertMessage, action: Exclude<AlertAction, "skip">, ctx: SendContext): Promise<SendResult> {
  try {
    // Stored settings were checked on write; parsed again so defaults added later apply.
    switch (channel.type) {
      case "webhook":
        return await post(webhookRequest(CHANNEL_SCHEMAS.webhook.settings.parse(channel.settings) as WebhookSettings, channel.secrets, m, ctx.now), ctx);
      case "slack":
        return await post(slackRequest(CHANNEL_SCHEMAS.slack.settings.parse(channel.settings) as SlackSettings, channel.secrets, m), ctx);
      case "pagerduty":
        return await post(pagerDutyRequest(CHANNEL_SCHEMAS.pagerduty.settings.parse(channel.settings) as PagerDutySettings, channel.secrets, m, action, ctx.dedupKey), ctx);
      case "email": {
        const settings = CHANNEL_SCHEMAS.email.settings.parse(channel.settings) as EmailSettings;
        await checkHost(ctx.egress, settings.host);
        return await sendEmail(settings, channel.secrets, m, ctx.timeoutMs);
      }
    }
  } catch (err) {
    if (err instanceof EgressDeniedError) return { ok: false, retryable: false, detail: err.message };
    return { ok: false, retryable: true, detail: errorText(err) };
  }
}

async function post(req: HttpRequestSpec, ctx: SendContext): Promise<SendResult> {
  const url = new URL(req.url);
  await checkHost(ctx.egress, url.hostname);
  const res = await fetch(url, { method: req.method, headers: req.headers, body: req.body, redirect: "manual", signal: AbortSignal.timeout(ctx.timeoutMs) });
  const answer = (await res.text().catch(() => "")).slice(0, 300).replace(/\s+/g, " ").trim();
  const detail = `HTTP ${res.status}${answer ? `: ${answer}` : ""}`;
  if (res.status >= 200 && res.status < 300) return { ok: true, retryable: false, detail };
  const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
  return { ok: false, retryable, detail: res.status >= 300 && res.status < 400 ? `${detail} (redirects are not followed: configure the final URL)` : detail };
}

function errorText(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string };
  if (e?.name === "TimeoutError") return "no answer before the deadline";
  return `${e?.code ? `${e.code}: ` : ""}${e?.message ?? String(err)}`.slice(0, 500);
}
