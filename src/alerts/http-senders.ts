// The requests of the HTTP channels: a webhook (generic JSON, a template, or a chat tool's
// preset: Feishu, DingTalk, WeCom, Microsoft Teams, Discord), a Slack incoming webhook, and
// PagerDuty Events v2. Building a request is pure (tests check the shapes); send.ts posts it.
//
// Signatures: the generic webhook signs `<timestamp>.<body>` with HMAC-SHA256 under its signing
// secret, in `X-Porpoise-Signature: sha256=<hex>` with `X-Porpoise-Timestamp: <unix seconds>`
// (a receiver refuses old timestamps to stop replays). Feishu and DingTalk bots sign their own
// way (their docs' "signature verification"): Feishu puts timestamp + sign in the body, DingTalk
// in the URL.

import type { AlertAction } from "../core/alert-events.ts";
import type { PagerDutySettings, SlackSettings, WebhookSettings } from "./channel-types.ts";
import { type AlertMessage, genericBody, renderTemplate, textOf, titleOf, variablesOf } from "./templates.ts";

export interface HttpRequestSpec {
  url: string;
  method: "POST" | "PUT";
  headers: Record<string, string>;
  body: string;
}

const hmac = (key: string, data: string, encoding: "hex" | "base64") => new Bun.CryptoHasher("sha256", key).update(data).digest(encoding);
const cut = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
const JSON_TYPE = { "content-type": "application/json; charset=utf-8" };

export function webhookRequest(settings: WebhookSettings, secrets: Record<string, string>, m: AlertMessage, now: Date): HttpRequestSpec {
  const title = titleOf(m);
  const text = textOf(m);
  const secret = secrets.signingSecret;
  let url = secrets.url!;
  let body: string;
  const headers: Record<string, string> = { ...settings.headers, ...JSON_TYPE };
  switch (settings.preset) {
    case "generic": {
      body = settings.template !== undefined ? renderTemplate(settings.template, variablesOf(m)) : JSON.stringify(genericBody(m));
      if (secret) {
        const ts = String(Math.floor(now.getTime() / 1000));
        headers["x-porpoise-timestamp"] = ts;
        headers["x-porpoise-signature"] = `sha256=${hmac(secret, `${ts}.${body}`, "hex")}`;
      }
      break;
    }
    case "feishu": {
      const payload: Record<string, unknown> = { msg_type: "text", content: { text: cut(`${title}\n${text}`, 30_000) } };
      if (secret) {
        const ts = String(Math.floor(now.getTime() / 1000));
        payload.timestamp = ts;
        payload.sign = hmac(`${ts}\n${secret}`, "", "base64");
      }
      body = JSON.stringify(payload);
      break;
    }
    case "dingtalk": {
      body = JSON.stringify({ msgtype: "text", text: { content: cut(`${title}\n${text}`, 20_000) } });
      if (secret) {
        const ts = String(now.getTime());
        const u = new URL(url);
        u.searchParams.set("timestamp", ts);
        u.searchParams.set("sign", hmac(secret, `${ts}\n${secret}`, "base64"));
        url = u.toString();
      }
      break;
    }
    case "wecom":
      // WeCom caps a text message at 2048 bytes.
      body = JSON.stringify({ msgtype: "text", text: { content: cutBytes(`${title}\n${text}`, 2048) } });
      break;
    case "teams":
      body = JSON.stringify({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        summary: cut(title, 200),
        themeColor: m.state === "SUCCESS" ? "2EB886" : "D00000",
        title,
        text: cut(text, 20_000).replace(/\n/g, "  \n"),
        ...(m.link ? { potentialAction: [{ "@type": "OpenUri", name: "Open in porpoise", targets: [{ os: "default", uri: m.link }] }] } : {}),
      });
      break;
    case "discord":
      body = JSON.stringify({ content: cut(`**${title}**\n${text}`, 2000), username: "porpoise", allowed_mentions: { parse: [] } });
      break;
  }
  return { url, method: settings.method, headers, body };
}

function cutBytes(text: string, max: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= max) return text;
  // Cut before an incomplete character (a continuation byte is 10xxxxxx).
  let end = max - 3;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString("utf8")}…`;
}

export function slackRequest(settings: SlackSettings, secrets: Record<string, string>, m: AlertMessage): HttpRequestSpec {
  const payload: Record<string, unknown> = { text: `*${titleOf(m)}*\n${cut(textOf(m), 35_000)}` };
  if (settings.username) payload.username = settings.username;
  if (settings.iconEmoji) payload.icon_emoji = settings.iconEmoji;
  return { url: secrets.url!, method: "POST", headers: { ...JSON_TYPE }, body: JSON.stringify(payload) };
}

/**
 * PagerDuty Events v2: `trigger` for what goes wrong, `resolve` on the next success. The dedup
 * key is stable per policy and target (workflow or schedule), so every failure of it lands in one
 * incident and its next success resolves that incident.
 */
export function pagerDutyRequest(settings: PagerDutySettings, secrets: Record<string, string>, m: AlertMessage, action: Exclude<AlertAction, "skip">, dedupKey: string): HttpRequestSpec {
  const event =
    action === "resolve"
      ? { routing_key: secrets.routingKey, event_action: "resolve", dedup_key: dedupKey }
      : {
          routing_key: secrets.routingKey,
          event_action: "trigger",
          dedup_key: dedupKey,
          payload: {
            summary: cut(titleOf(m), 1024),
            source: "porpoise",
            severity: m.kind === "TEST" || m.kind === "TASK_WARN_TIMEOUT" ? "warning" : settings.severity,
            timestamp: m.at.toISOString(),
            component: m.workflow ?? undefined,
            group: m.project,
            class: m.kind,
            custom_details: { text: cut(textOf(m), 10_000), workflowInstanceId: m.workflowInstanceId, state: m.state, failedTasks: m.failedTasks.map((t) => t.name) },
          },
          ...(m.link ? { links: [{ href: m.link, text: "porpoise" }] } : {}),
        };
  return { url: settings.eventsUrl, method: "POST", headers: { ...JSON_TYPE }, body: JSON.stringify(event) };
}
