// The fields of each kind of alert channel, as zod schemas: `settings` (shown by the API) and
// `secrets` (write-only: sealed in the Store, never returned; src/store/alert-config.ts). The API
// validates a channel with `checkChannel`, which names each wrong field (`settings.host`,
// `secrets.url`); secret schemas carry messages that never repeat the value.

import { z } from "zod";
import type { AlertChannelType } from "../store/model.ts";
import { renderTemplate, SAMPLE_VARIABLES } from "./templates.ts";

export const WEBHOOK_PRESETS = ["generic", "feishu", "dingtalk", "wecom", "teams", "discord"] as const;
export type WebhookPreset = (typeof WEBHOOK_PRESETS)[number];

const secretUrl = (what: string) => {
  const problem = () => `expected ${what} as an http:// or https:// URL (at most 2000 characters); the value is not repeated here`;
  return z.string({ error: problem }).max(2000, { error: problem }).refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "" && u.username === "" && u.password === "";
    } catch {
      return false;
    }
  }, { error: problem });
};
const secretText = (what: string, max: number) => {
  const problem = () => `expected ${what} as a non-empty string of at most ${max} characters; the value is not repeated here`;
  return z.string({ error: problem }).min(1, { error: problem }).max(max, { error: problem });
};
const publicUrl = z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).max(2000);
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, { error: "expected an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)" });
/** Headers a channel may not set: the sender owns them. */
const RESERVED_HEADERS = ["host", "content-length", "content-type", "transfer-encoding", "connection", "x-porpoise-signature", "x-porpoise-timestamp"];

const template = z
  .string()
  .max(20_000)
  .superRefine((text, ctx) => {
    try {
      JSON.parse(renderTemplate(text, SAMPLE_VARIABLES));
    } catch (err) {
      ctx.addIssue({ code: "custom", message: `expected a JSON text with {{variables}} inside strings (${(err as Error).message}); variables: ${Object.keys(SAMPLE_VARIABLES).join(", ")}`, input: text });
    }
  });

export const CHANNEL_SCHEMAS = {
  webhook: {
    settings: z.strictObject({
      preset: z.enum(WEBHOOK_PRESETS).default("generic").describe("body shape: generic JSON (or `template`), or a chat tool's"),
      method: z.enum(["POST", "PUT"]).default("POST"),
      headers: z
        .record(headerName, z.string().max(2000).regex(/^[^\r\n]*$/, { error: "a header value may not hold a line break" }))
        .refine((h) => Object.keys(h).length <= 20, { error: "at most 20 headers" })
        .refine((h) => !Object.keys(h).some((k) => RESERVED_HEADERS.includes(k.toLowerCase())), { error: `these headers are set by porpoise: ${RESERVED_HEADERS.join(", ")}` })
        .default({}),
      template: template.optional().describe("generic preset only: the JSON body, with {{variables}} inside strings"),
    }),
    secrets: z.strictObject({
      url: secretUrl("the webhook URL").describe("the webhook's URL (chat tools put their token in it, so it is write-only)"),
      signingSecret: secretText("the signing secret", 500).optional().describe("generic: HMAC-SHA256 key of X-Porpoise-Signature; feishu/dingtalk: the bot's signing secret"),
    }),
    required: ["url"],
  },
  slack: {
    settings: z.strictObject({
      username: z.string().min(1).max(80).optional(),
      iconEmoji: z.string().regex(/^:[a-z0-9_+-]{1,60}:$/, { error: "expected an emoji code like :rotating_light:" }).optional(),
    }),
    secrets: z.strictObject({ url: secretUrl("the Slack incoming-webhook URL") }),
    required: ["url"],
  },
  email: {
    settings: z.strictObject({
      host: z.string().min(1, { error: "expected the SMTP server's host name" }).max(255).regex(/^[A-Za-z0-9.:_[\]-]+$/, { error: "expected a host name or IP address" }),
      port: z.number().int().min(1).max(65535).default(587),
      security: z.enum(["starttls", "tls", "none"]).default("starttls").describe("tls: TLS from the first byte (port 465); starttls: upgrade required; none: plain (tests, local relays)"),
      rejectUnauthorized: z.boolean().default(true).describe("false accepts a self-signed server certificate"),
      user: z.string().min(1).max(320).optional().describe("SMTP AUTH user (with secrets.password)"),
      from: z.email({ error: "expected the sender's email address" }),
      to: z.array(z.email({ error: "expected an email address" })).min(1, { error: "expected at least one recipient" }).max(50),
    }),
    secrets: z.strictObject({ password: secretText("the SMTP password", 1000).optional() }),
    required: [],
  },
  pagerduty: {
    settings: z.strictObject({
      severity: z.enum(["critical", "error", "warning", "info"]).default("error"),
      eventsUrl: publicUrl.default("https://events.pagerduty.com/v2/enqueue").describe("the Events API v2 endpoint"),
    }),
    secrets: z.strictObject({ routingKey: secretText("the PagerDuty integration (routing) key", 200) }),
    required: ["routingKey"],
  },
} as const satisfies Record<AlertChannelType, { settings: z.ZodType; secrets: z.ZodType; required: readonly string[] }>;

export type WebhookSettings = z.output<typeof CHANNEL_SCHEMAS.webhook.settings>;
export type SlackSettings = z.output<typeof CHANNEL_SCHEMAS.slack.settings>;
export type EmailSettings = z.output<typeof CHANNEL_SCHEMAS.email.settings>;
export type PagerDutySettings = z.output<typeof CHANNEL_SCHEMAS.pagerduty.settings>;

export interface ChannelProblem {
  path: string;
  message: string;
}

/**
 * The settings with defaults applied, and every problem as `settings.<field>` / `secrets.<field>`.
 * `secretsSet`: the secret fields that will be stored (after a merge), to check the required ones.
 */
export function checkChannel(
  type: AlertChannelType,
  settings: unknown,
  secrets: Record<string, unknown> | undefined,
  secretsSet: readonly string[],
): { settings: Record<string, unknown>; problems: ChannelProblem[] } {
  const spec = CHANNEL_SCHEMAS[type];
  const problems: ChannelProblem[] = [];
  const parsed = spec.settings.safeParse(settings ?? {});
  if (!parsed.success) for (const i of parsed.error.issues) problems.push({ path: ["settings", ...i.path].join("."), message: i.message });
  if (secrets) {
    // null removes a field on update: check only the values given.
    const given = Object.fromEntries(Object.entries(secrets).filter(([, v]) => v !== null));
    const checked = spec.secrets.partial().safeParse(given);
    if (!checked.success) for (const i of checked.error.issues) problems.push({ path: ["secrets", ...i.path].join("."), message: i.message });
  }
  for (const field of spec.required) {
    if (!secretsSet.includes(field)) problems.push({ path: `secrets.${field}`, message: `a ${type} channel needs secrets.${field}` });
  }
  if (type === "webhook" && parsed.success) {
    const s = parsed.data as WebhookSettings;
    if (s.template !== undefined && s.preset !== "generic") problems.push({ path: "settings.template", message: `a template applies to the generic preset only; preset "${s.preset}" has its own body` });
  }
  return { settings: parsed.success ? (parsed.data as Record<string, unknown>) : {}, problems };
}
