// Alerts end to end on a real engine: a failed run reaches a real webhook (HMAC-signed), Slack and
// PagerDuty receivers (an HTTP server this test starts) and a real SMTP server (smtp-server, with
// STARTTLS and AUTH); the webhook's first answer is a 500, so the delivery is retried and both
// attempts are listed; the next success resolves the PagerDuty incident under the same dedup key.

import { describe, expect, test } from "bun:test";
import { defaultAlertEgress } from "../../../src/alerts/egress-check.ts";
import { createMetricsRegistry } from "../../../src/metrics/registry.ts";
import { dialects } from "../../helpers/stores.ts";
import { httpReceiver, smtpReceiver } from "../../helpers/alert-receivers.ts";
import { apiHarness } from "./harness.ts";

const P = "/api/v1/projects/analytics";
const SIGNING = "hmac-canary-secret";
const SMTP_PASS = "smtp-canary-pass";
const ROUTING = "pd-canary-routing-key";
const hmac = (key: string, data: string) => new Bun.CryptoHasher("sha256", key).update(data).digest("hex");

describe.each(dialects)("alert delivery on %s", (dialect) => {
  test("a failed run reaches webhook, Slack, PagerDuty and SMTP; a 500 is retried; the next success resolves PagerDuty", async () => {
    await using hooks = httpReceiver();
    await using smtp = await smtpReceiver({ user: "porpoise", pass: SMTP_PASS });
    const metrics = createMetricsRegistry();
    await using h = await apiHarness(dialect, {
      engine: "full",
      alerts: { baseUrl: "https://porpoise.example/", egress: defaultAlertEgress(), intervalMs: 50, backoff: { baseMs: 50, maxMs: 200, maxAttempts: 5 }, metrics },
    });
    hooks.failNext("/hook", 1);
    expect((await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } })).status).toBe(201);
    const failing = { name: "nightly", tasks: [{ name: "load", type: "shell", script: "echo 'canary log line'\nexit 3" }] };
    expect((await h.call("POST", `${P}/workflows`, { body: failing })).status).toBe(201);

    const channels = [
      { name: "hook", type: "webhook", settings: { preset: "generic" }, secrets: { url: `${hooks.url}/hook`, signingSecret: SIGNING } },
      { name: "chat", type: "slack", settings: { username: "porpoise" }, secrets: { url: `${hooks.url}/slack` } },
      { name: "pager", type: "pagerduty", settings: { eventsUrl: `${hooks.url}/pd`, severity: "critical" }, secrets: { routingKey: ROUTING } },
      { name: "mail", type: "email", settings: { host: "127.0.0.1", port: smtp.port, security: "starttls", rejectUnauthorized: false, user: "porpoise", from: "porpoise@example.com", to: ["oncall@example.com"] }, secrets: { password: SMTP_PASS } },
    ];
    for (const c of channels) expect((await h.call("POST", `${P}/alert-channels`, { body: c })).status).toBe(201);
    expect((await h.call("POST", `${P}/alert-groups`, { body: { name: "on-call", channels: channels.map((c) => c.name) } })).status).toBe(201);
    const policy = await h.call("POST", `${P}/alert-policies`, { body: { workflow: "nightly", group: "on-call", events: ["failure"] } });
    expect(policy.status).toBe(201);
    expect(policy.json).toMatchObject({ workflow: "nightly", schedule: null, group: "on-call", events: ["failure"] });

    const id = (await h.call("POST", `${P}/workflows/nightly/run`, { body: {} })).json.id as number;
    await h.waitFor("the run to fail", async () => (await h.call("GET", `/api/v1/workflow-instances/${id}`)).json.state === "FAILURE");
    await h.waitFor("the webhook's second try, the mail and the other channels", async () => hooks.on("/hook").length >= 2 && smtp.mails.length >= 1 && hooks.on("/slack").length >= 1 && hooks.on("/pd").length >= 1);

    // Webhook: the first answer was 500, the retry got through; HMAC over "<timestamp>.<body>".
    const [first, second] = hooks.on("/hook");
    expect([first!.status, second!.status]).toEqual([500, 202]);
    expect(second!.body).toBe(first!.body);
    const ts = second!.headers["x-porpoise-timestamp"]!;
    expect(second!.headers["x-porpoise-signature"]).toBe(`sha256=${hmac(SIGNING, `${ts}.${second!.body}`)}`);
    expect(second!.json).toMatchObject({
      kind: "INSTANCE_END",
      project: "analytics",
      workflow: "nightly",
      workflowInstanceId: id,
      state: "FAILURE",
      link: `https://porpoise.example/projects/analytics/runs/${id}`,
      failedTasks: [{ name: "load", attempt: 1, state: "FAILURE" }],
    });
    expect(second!.json.failedTasks[0].logTail).toContain("canary log line");
    expect(second!.json.title).toBe(`[porpoise] FAILURE: analytics / nightly #${id}`);

    // Slack: title and text, with the log tail and the link.
    const slack = hooks.on("/slack")[0]!.json;
    expect(slack.username).toBe("porpoise");
    expect(slack.text).toContain(`FAILURE: analytics / nightly #${id}`);
    expect(slack.text).toContain("canary log line");
    expect(slack.text).toContain(`https://porpoise.example/projects/analytics/runs/${id}`);

    // PagerDuty Events v2: a trigger under a stable dedup key.
    const trigger = hooks.on("/pd")[0]!.json;
    expect(trigger).toMatchObject({ routing_key: ROUTING, event_action: "trigger", payload: { source: "porpoise", severity: "critical", group: "analytics", component: "nightly" } });
    expect(trigger.dedup_key).toBe(`porpoise-policy-${policy.json.id}-workflow-${(await h.call("GET", `${P}/workflows/nightly`)).json.id}`);

    // Email over STARTTLS with AUTH.
    const mail = smtp.mails[0]!;
    expect({ from: mail.from, to: mail.to, user: mail.user, secure: mail.secure }).toEqual({ from: "porpoise@example.com", to: ["oncall@example.com"], user: "porpoise", secure: true });
    expect(mail.text).toContain(`Subject: [porpoise] FAILURE: analytics / nightly #${id}`);
    expect(mail.text).toContain("canary log line");

    // Every attempt is listed: the webhook's failed one and its retry, one per other channel.
    const deliveries = await h.waitFor("all deliveries recorded", async () => {
      const r = await h.call("GET", `${P}/alert-deliveries?workflowInstance=${id}`);
      return r.json.total === 5 && r.json.pending === 0 ? r.json : null;
    });
    const byChannel = deliveries.items.map((d: { channel: string; status: string; attempt: number }) => `${d.channel}:${d.status}:${d.attempt}`).sort();
    expect(byChannel).toEqual(["chat:sent:1", "hook:failed:1", "hook:sent:2", "mail:sent:1", "pager:sent:1"]);
    expect(deliveries.items.find((d: { status: string }) => d.status === "failed").detail).toBe("HTTP 500: receiver down");
    const scraped = await metrics.render();
    expect(scraped).toContain('porpoise_alerts_sent_total{channel_type="webhook",status="failed"} 1');
    expect(scraped).toContain('porpoise_alerts_sent_total{channel_type="email",status="sent"} 1');

    // Secrets never come back.
    for (const path of [`${P}/alert-channels`, ...channels.map((c) => `${P}/alert-channels/${c.name}`), `${P}/alert-groups`, `${P}/alert-deliveries`, `${P}/audit?limit=500`]) {
      const text = (await h.call("GET", path)).text;
      for (const secret of [SIGNING, SMTP_PASS, ROUTING, "/hook", "/slack"]) expect({ path, leaked: text.includes(secret) }).toEqual({ path, leaked: false });
    }
    expect((await h.call("GET", `${P}/alert-channels/mail`)).json).toMatchObject({ settings: { host: "127.0.0.1", to: ["oncall@example.com"] }, secretsSet: ["password"] });

    // The next success of the workflow resolves the incident (same dedup key); the others stay quiet (the policy is "failure").
    expect((await h.call("PUT", `${P}/workflows/nightly`, { body: { ...failing, tasks: [{ name: "load", type: "shell", script: "echo fine" }] } })).status).toBe(200);
    const ok = (await h.call("POST", `${P}/workflows/nightly/run`, { body: {} })).json.id as number;
    await h.waitFor("the PagerDuty resolve", async () => hooks.on("/pd").length >= 2);
    expect(hooks.on("/pd")[1]!.json).toEqual({ routing_key: ROUTING, event_action: "resolve", dedup_key: trigger.dedup_key });
    await h.waitFor("the success's alert row done", async () => (await h.call("GET", `${P}/alert-deliveries`)).json.pending === 0);
    expect((await h.call("GET", `/api/v1/workflow-instances/${ok}`)).json.state).toBe("SUCCESS");
    expect(hooks.on("/hook").length).toBe(2);
    expect(hooks.on("/slack").length).toBe(1);
    expect(smtp.mails.length).toBe(1);
  });
});
