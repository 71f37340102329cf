// Request and response schemas of the alert routes (routes/alerts.ts, routes/alert-channels.ts).
// A channel's secrets are write-only: responses list the names of the secret fields that are set
// (`secretsSet`), never a value, and validation messages about them never repeat the value.

import { z } from "zod";
import { ALERT_EVENT_NAMES, eventNames } from "../core/alert-events.ts";
import { nameSchema } from "../core/workflow-fields.ts";
import { ALERT_CHANNEL_TYPES, type AlertChannelType } from "../store/model.ts";
import type { AlertChannel, AlertDelivery, AlertGroup, AlertPolicy } from "../store/store.ts";
import { checkChannel } from "../alerts/channel-types.ts";
import { changesSomething, NOTHING_TO_CHANGE } from "./schemas.ts";

const date = z.string().meta({ format: "date-time" });
const iso = (d: Date) => d.toISOString();

export const alertChannelName = nameSchema("an alert channel name");
export const alertGroupName = nameSchema("an alert group name");

const settingsField = z.record(z.string(), z.unknown()).describe("the type's fields: see the README, Operate → Alerts");
const secretsField = z.record(z.string(), z.unknown()).describe("write-only: the type's secret fields (URLs with tokens, signing secret, SMTP password, routing key); never returned");

function addProblems(problems: { path: string; message: string }[], ctx: z.RefinementCtx): void {
  for (const p of problems) ctx.addIssue({ code: "custom", path: p.path.split("."), message: p.message, input: undefined });
}

export const createChannelBody = z
  .strictObject({
    name: alertChannelName,
    type: z.enum(ALERT_CHANNEL_TYPES),
    description: z.string().max(2000).default(""),
    settings: settingsField.default({}),
    secrets: secretsField.default({}),
  })
  .transform((body, ctx) => {
    const checked = checkChannel(body.type, body.settings, body.secrets, Object.keys(body.secrets));
    addProblems(checked.problems, ctx);
    return { ...body, settings: checked.settings, secrets: body.secrets as Record<string, string> };
  });

export const updateChannelBody = z
  .strictObject({
    name: alertChannelName.optional(),
    description: z.string().max(2000).optional(),
    settings: settingsField.optional().describe("replaces the stored settings (validated for the channel's type)"),
    secrets: secretsField.optional().describe("write-only; merged: a field given replaces it, null removes it, left out keeps it"),
  })
  .refine(changesSomething, NOTHING_TO_CHANGE);

/** An update checked against the stored channel's type and the secrets it will hold. */
export function checkChannelUpdate(type: AlertChannelType, current: AlertChannel, patch: z.output<typeof updateChannelBody>) {
  const secretsSet = new Set(current.secretsSet);
  for (const [k, v] of Object.entries(patch.secrets ?? {})) {
    if (v === null) secretsSet.delete(k);
    else secretsSet.add(k);
  }
  return checkChannel(type, patch.settings ?? current.settings, patch.secrets, [...secretsSet]);
}

export const channelView = z.object({
  id: z.number().int(),
  name: z.string(),
  type: z.enum(ALERT_CHANNEL_TYPES),
  global: z.boolean(),
  description: z.string(),
  settings: z.record(z.string(), z.unknown()),
  secretsSet: z.array(z.string()).describe("names of the secret fields that are set; values are never shown"),
  createdAt: date,
  updatedAt: date,
});
export const toChannelView = (c: AlertChannel): z.input<typeof channelView> => ({
  id: c.id,
  name: c.name,
  type: c.type,
  global: c.projectId === null,
  description: c.description,
  settings: c.settings,
  secretsSet: c.secretsSet,
  createdAt: iso(c.createdAt),
  updatedAt: iso(c.updatedAt),
});

const channelNames = z.array(alertChannelName).max(50);
export const createGroupBody = z
  .strictObject({
    name: alertGroupName,
    description: z.string().max(2000).default(""),
    channels: channelNames.default([]).describe("names of this project's channels"),
    globalChannels: channelNames.default([]).describe("names of global channels (an administrator defines them)"),
  })
  .refine((g) => g.channels.length + g.globalChannels.length > 0, { error: "a group needs at least one channel (channels or globalChannels)", path: ["channels"] });
export const updateGroupBody = z
  .strictObject({ name: alertGroupName.optional(), description: z.string().max(2000).optional(), channels: channelNames.optional(), globalChannels: channelNames.optional() })
  .refine(changesSomething, NOTHING_TO_CHANGE);

export const groupView = z.object({
  id: z.number().int(),
  name: z.string(),
  description: z.string(),
  channels: z.array(z.object({ name: z.string(), type: z.enum(ALERT_CHANNEL_TYPES), global: z.boolean() })),
  createdAt: date,
  updatedAt: date,
});
export const toGroupView = (g: AlertGroup): z.input<typeof groupView> => ({
  id: g.id,
  name: g.name,
  description: g.description,
  channels: g.channels.map((c) => ({ name: c.name, type: c.type, global: c.global })),
  createdAt: iso(g.createdAt),
  updatedAt: iso(g.updatedAt),
});

const events = z
  .array(z.enum(ALERT_EVENT_NAMES as [string, ...string[]]))
  .min(1, { error: `expected at least one event of: ${ALERT_EVENT_NAMES.join(", ")}` })
  .describe(`when to alert: ${ALERT_EVENT_NAMES.join(", ")} (always = any end of a run; misfire needs a schedule, or a workflow whose schedules it covers)`);
export const createPolicyBody = z
  .strictObject({
    workflow: nameSchema("a workflow name").optional().describe("the workflow whose runs it watches (or schedule)"),
    schedule: z.number().int().min(1).optional().describe("the schedule (id) whose runs and misfires it watches (or workflow)"),
    group: alertGroupName.describe("the alert group to notify"),
    events,
  })
  .refine((p) => (p.workflow === undefined) !== (p.schedule === undefined), { error: "name exactly one of workflow or schedule", path: ["workflow"] });
export const updatePolicyBody = z
  .strictObject({ group: alertGroupName.optional(), events: events.optional() })
  .refine(changesSomething, NOTHING_TO_CHANGE);

export const policyView = z.object({
  id: z.number().int(),
  workflow: z.string().nullable(),
  schedule: z.number().int().nullable(),
  group: z.string(),
  events: z.array(z.string()),
  createdAt: date,
  updatedAt: date,
});
export const toPolicyView = (p: AlertPolicy, names: { workflow: string | null; group: string }): z.input<typeof policyView> => ({
  id: p.id,
  workflow: names.workflow,
  schedule: p.scheduleId,
  group: names.group,
  events: eventNames(p.events),
  createdAt: iso(p.createdAt),
  updatedAt: iso(p.updatedAt),
});

export const deliveryView = z.object({
  id: z.number().int(),
  outboxId: z.number().int(),
  channel: z.string(),
  channelType: z.string(),
  kind: z.string(),
  workflowInstanceId: z.number().int().nullable(),
  attempt: z.number().int(),
  status: z.enum(["sent", "failed"]),
  detail: z.string().describe("the receiver's answer (HTTP status and the start of its body) or the error"),
  at: date,
});
export const toDeliveryView = (d: AlertDelivery): z.input<typeof deliveryView> => ({
  id: d.id,
  outboxId: d.outboxId,
  channel: d.channelName,
  channelType: d.channelType,
  kind: d.kind,
  workflowInstanceId: d.workflowInstanceId,
  attempt: d.attempt,
  status: d.status,
  detail: d.detail,
  at: iso(d.at),
});
