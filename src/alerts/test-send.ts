// The test-send endpoint's work: one TEST message to one channel, sent at once (not through the
// outbox, so the caller sees the receiver's answer), and recorded as a delivery like any other.

import type { AlertDelivery, Store } from "../store/store.ts";
import type { AlertEgress } from "./egress-check.ts";
import { sendToChannel } from "./send.ts";
import type { AlertMessage } from "./templates.ts";

export interface AlertSendOptions {
  egress: AlertEgress;
  baseUrl: string | null;
  timeoutMs?: number;
}

/** `projectId` null: a global channel (its record is kept under project 0). */
export async function testSend(store: Store, opts: AlertSendOptions, input: { projectId: number | null; projectName: string | null; channelName: string; who: string }): Promise<AlertDelivery | null> {
  const [channel] = (await store.alerts.channelsForDelivery([(await store.alerts.getChannel(input.projectId, input.channelName))?.id ?? -1])).filter((c) => c.projectId === input.projectId);
  if (!channel) return null;
  const now = new Date();
  const message: AlertMessage = {
    kind: "TEST",
    project: input.projectName ?? "(global channel)",
    workflow: null,
    workflowInstanceId: null,
    scheduleId: null,
    state: null,
    task: null,
    failedTasks: [],
    detail: `a test of ${channel.type} channel "${channel.name}", sent by ${input.who}`,
    link: opts.baseUrl,
    at: now,
  };
  const result = await sendToChannel(channel, message, "send", { egress: opts.egress, dedupKey: `porpoise-test-${channel.id}`, now, timeoutMs: opts.timeoutMs ?? 10_000 });
  return store.alerts.recordTestSend({ projectId: input.projectId ?? 0, channelId: channel.id, channelName: channel.name, channelType: channel.type, message: message.detail!, ok: result.ok, detail: result.detail });
}
