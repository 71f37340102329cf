// What each channel is sent: the presets' body shapes and signatures, a template's substitution
// (values escaped, never evaluated), and which channel acts on which event.

import { describe, expect, test } from "bun:test";
import { alertAction, ALERT_EVENTS, endMask, eventMask, eventNames } from "../../src/core/alert-events.ts";
import { CHANNEL_SCHEMAS, type WebhookSettings } from "../../src/alerts/channel-types.ts";
import { pagerDutyRequest, slackRequest, webhookRequest } from "../../src/alerts/http-senders.ts";
import { type AlertMessage, renderTemplate, textOf, titleOf, variablesOf } from "../../src/alerts/templates.ts";

const message: AlertMessage = {
  kind: "INSTANCE_END",
  project: "etl",
  workflow: 'night"ly',
  workflowInstanceId: 42,
  scheduleId: null,
  state: "FAILURE",
  task: null,
  failedTasks: [{ name: "load", attempt: 2, state: "FAILURE", message: "exit code 3", logTail: 'line 1\n"quoted" ${HOME} $(touch x)\n' }],
  detail: null,
  link: "https://porpoise.example/projects/etl/runs/42",
  at: new Date("2026-01-02T03:04:05Z"),
};
const now = new Date("2026-01-02T03:04:06Z");
const settings = (s: Record<string, unknown>) => CHANNEL_SCHEMAS.webhook.settings.parse(s) as WebhookSettings;
const hmac = (key: string, data: string, enc: "hex" | "base64") => new Bun.CryptoHasher("sha256", key).update(data).digest(enc);

describe("alert messages", () => {
  test("title and text name project, workflow, instance, state, failed tasks with their log tail, and the link", () => {
    expect(titleOf(message)).toBe('[porpoise] FAILURE: etl / night"ly #42');
    const text = textOf(message);
    for (const part of ["project: etl", 'workflow: night"ly', "instance: 42", "state: FAILURE", 'failed task "load" (attempt 2, FAILURE): exit code 3', '"quoted" ${HOME} $(touch x)', message.link!]) expect(text).toContain(part);
  });

  test("a template gets values escaped for JSON strings, never evaluated", () => {
    const body = renderTemplate('{"t":"{{title}}","x":"{{text}}","n":"{{nope}}","w":"{{ workflow }}"}', variablesOf(message));
    const parsed = JSON.parse(body);
    expect(parsed).toEqual({ t: titleOf(message), x: textOf(message), n: "", w: 'night"ly' });
  });

  test("presets: generic (HMAC header), Feishu (signed body), DingTalk (signed URL), WeCom (2048 bytes), Teams, Discord", () => {
    const generic = webhookRequest(settings({}), { url: "https://h.example/x", signingSecret: "k" }, message, now);
    expect(generic.headers["x-porpoise-timestamp"]).toBe(String(now.getTime() / 1000));
    expect(generic.headers["x-porpoise-signature"]).toBe(`sha256=${hmac("k", `${now.getTime() / 1000}.${generic.body}`, "hex")}`);
    expect(JSON.parse(generic.body)).toMatchObject({ kind: "INSTANCE_END", workflowInstanceId: 42, state: "FAILURE", failedTasks: [{ name: "load" }] });
    expect(webhookRequest(settings({}), { url: "https://h.example/x" }, message, now).headers["x-porpoise-signature"]).toBeUndefined();

    const feishu = webhookRequest(settings({ preset: "feishu" }), { url: "https://open.feishu.cn/hook/t", signingSecret: "fs" }, message, now);
    const ts = String(now.getTime() / 1000);
    expect(JSON.parse(feishu.body)).toEqual({ msg_type: "text", content: { text: `${titleOf(message)}\n${textOf(message)}` }, timestamp: ts, sign: hmac(`${ts}\nfs`, "", "base64") });

    const ding = webhookRequest(settings({ preset: "dingtalk" }), { url: "https://oapi.dingtalk.com/robot/send?access_token=a", signingSecret: "ds" }, message, now);
    const u = new URL(ding.url);
    expect(u.searchParams.get("access_token")).toBe("a");
    expect(u.searchParams.get("timestamp")).toBe(String(now.getTime()));
    expect(u.searchParams.get("sign")).toBe(hmac("ds", `${now.getTime()}\nds`, "base64"));
    expect(JSON.parse(ding.body).msgtype).toBe("text");

    const long = { ...message, failedTasks: [{ ...message.failedTasks[0]!, logTail: "é".repeat(3000) }] };
    const wecom = JSON.parse(webhookRequest(settings({ preset: "wecom" }), { url: "https://qyapi.weixin.qq.com/x" }, long, now).body);
    expect(wecom.msgtype).toBe("text");
    expect(Buffer.byteLength(wecom.text.content)).toBeLessThanOrEqual(2048);

    const teams = JSON.parse(webhookRequest(settings({ preset: "teams" }), { url: "https://x.webhook.office.com/y" }, message, now).body);
    expect(teams).toMatchObject({ "@type": "MessageCard", title: titleOf(message), potentialAction: [{ targets: [{ uri: message.link }] }] });
    const discord = JSON.parse(webhookRequest(settings({ preset: "discord" }), { url: "https://discord.com/api/webhooks/1/t" }, long, now).body);
    expect(discord.content.length).toBeLessThanOrEqual(2000);
    expect(discord.allowed_mentions).toEqual({ parse: [] });

    const templated = webhookRequest(settings({ template: '{"alert":"{{title}}"}', headers: { "X-Team": "data" } }), { url: "https://h.example/x" }, message, now);
    expect(JSON.parse(templated.body)).toEqual({ alert: titleOf(message) });
    expect(templated.headers["X-Team"]).toBe("data");
  });

  test("Slack and PagerDuty shapes", () => {
    expect(JSON.parse(slackRequest({ username: "bot" }, { url: "https://hooks.slack.com/x" }, message).body)).toEqual({ text: `*${titleOf(message)}*\n${textOf(message)}`, username: "bot" });
    const pd = CHANNEL_SCHEMAS.pagerduty.settings.parse({});
    expect(pd.eventsUrl).toBe("https://events.pagerduty.com/v2/enqueue");
    const trigger = JSON.parse(pagerDutyRequest(pd, { routingKey: "rk" }, message, "send", "dk").body);
    expect(trigger).toMatchObject({ routing_key: "rk", event_action: "trigger", dedup_key: "dk", payload: { summary: titleOf(message), source: "porpoise", severity: "error", group: "etl" }, links: [{ href: message.link }] });
    expect(JSON.parse(pagerDutyRequest(pd, { routingKey: "rk" }, message, "resolve", "dk").body)).toEqual({ routing_key: "rk", event_action: "resolve", dedup_key: "dk" });
  });

  test("which channel acts on which event", () => {
    const failure = eventMask(["failure"]);
    expect(eventNames(failure | ALERT_EVENTS.misfire)).toEqual(["failure", "misfire"]);
    expect([endMask("FAILURE")! & failure, endMask("SUCCESS")! & failure, endMask("STOP")! & failure, endMask("PAUSE")]).toEqual([failure, failure, 0, null]);
    expect(alertAction("INSTANCE_END", "FAILURE", failure, "slack")).toBe("send");
    expect(alertAction("INSTANCE_END", "SUCCESS", failure, "slack")).toBe("skip");
    expect(alertAction("INSTANCE_END", "SUCCESS", failure, "pagerduty")).toBe("resolve");
    expect(alertAction("INSTANCE_END", "SUCCESS", eventMask(["success"]), "email")).toBe("send");
    expect(alertAction("INSTANCE_END", "STOP", eventMask(["always"]), "webhook")).toBe("send");
    expect(alertAction("INSTANCE_END", "STOP", eventMask(["always"]), "pagerduty")).toBe("skip");
    expect(alertAction("TASK_FAILED", null, eventMask(["task-failed"]), "pagerduty")).toBe("send");
  });
});
