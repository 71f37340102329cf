// The alert routes' input checks and rights: each wrong input is a 400 naming its field (and a
// secret's message never repeats it); roles as elsewhere (viewers read, developers write, global
// channels are for administrators); another project's channels cannot be used; test-send answers
// with the receiver's response and refuses link-local and metadata addresses.

import { describe, expect, test } from "bun:test";
import { dialects } from "../../helpers/stores.ts";
import { httpReceiver, smtpReceiver } from "../../helpers/alert-receivers.ts";
import { apiHarness, expectError, type Harness } from "./harness.ts";

const P = "/api/v1/projects/analytics";

async function project(h: Harness) {
  expect((await h.call("POST", "/api/v1/projects", { body: { name: "analytics" } })).status).toBe(201);
  expect((await h.call("POST", `${P}/workflows`, { body: { name: "nightly", tasks: [{ name: "t", type: "noop" }] } })).status).toBe(201);
}

/** The paths of a 400's details. */
async function refused(h: Harness, method: string, path: string, body: unknown, token?: string): Promise<{ paths: string[]; text: string }> {
  const reply = await h.call(method, path, { body, ...(token ? { token } : {}) });
  const err = expectError(reply, 400, "VALIDATION_FAILED");
  return { paths: err.details.map((d) => d.path), text: reply.text };
}

describe.each(dialects)("alert routes on %s", (dialect) => {
  test("bad channels, groups and policies are refused naming the field; nothing is stored", async () => {
    await using h = await apiHarness(dialect);
    await project(h);
    const C = `${P}/alert-channels`;
    expect((await refused(h, "POST", C, { name: "x", type: "sms" })).paths).toEqual(["type"]);
    const badUrl = await refused(h, "POST", C, { name: "x", type: "slack", secrets: { url: "not-a-url-canary" } });
    expect(badUrl.paths).toEqual(["secrets.url"]);
    expect(badUrl.text).not.toContain("not-a-url-canary");
    expect((await refused(h, "POST", C, { name: "x", type: "slack", secrets: { url: "ftp://files.example.com/x" } })).paths).toEqual(["secrets.url"]);
    expect((await refused(h, "POST", C, { name: "x", type: "slack" })).paths).toEqual(["secrets.url"]);
    expect((await refused(h, "POST", C, { name: "x", type: "webhook", secrets: {} })).paths).toEqual(["secrets.url"]);
    expect((await refused(h, "POST", C, { name: "x", type: "email", settings: { from: "a@example.com", to: ["b@example.com"] } })).paths).toEqual(["settings.host"]);
    expect((await refused(h, "POST", C, { name: "x", type: "email", settings: { host: "smtp.example.com", port: 70000, from: "nobody", to: ["b@example.com", "oops"] } })).paths.sort()).toEqual(["settings.from", "settings.port", "settings.to.1"]);
    expect((await refused(h, "POST", C, { name: "x", type: "pagerduty", settings: { severity: "meh" }, secrets: { routingKey: "k" } })).paths).toEqual(["settings.severity"]);
    expect((await refused(h, "POST", C, { name: "x", type: "webhook", settings: { template: '{"text": {{title}}' }, secrets: { url: "https://h.example.com" } })).paths).toEqual(["settings.template"]);
    expect((await refused(h, "POST", C, { name: "x", type: "webhook", settings: { preset: "discord", template: '{"a":"{{title}}"}' }, secrets: { url: "https://h.example.com" } })).paths).toEqual(["settings.template"]);
    expect((await refused(h, "POST", C, { name: "x", type: "webhook", settings: { headers: { "Content-Type": "text/plain" } }, secrets: { url: "https://h.example.com" } })).paths).toEqual(["settings.headers"]);
    expect((await refused(h, "POST", C, { name: "x", type: "slack", settings: { colour: "red" }, secrets: { url: "https://h.example.com", token: "t" } })).paths.sort()).toEqual(["secrets", "settings"]);
    expect((await refused(h, "POST", C, { name: "", type: "slack", secrets: { url: "https://h.example.com" } })).paths).toEqual(["name"]);
    expect((await h.call("GET", C)).json.total).toBe(0);

    // A good one, then bad updates: the type's rules apply to the merged result.
    expect((await h.call("POST", C, { body: { name: "chat", type: "slack", secrets: { url: "https://hooks.example.com/x" } } })).status).toBe(201);
    expect((await refused(h, "PUT", `${C}/chat`, { secrets: { url: null } })).paths).toEqual(["secrets.url"]);
    expect((await refused(h, "PUT", `${C}/chat`, {})).paths).toEqual([""]);
    expect((await h.call("PUT", `${C}/chat`, { body: { settings: { username: "bot" } } })).json).toMatchObject({ settings: { username: "bot" }, secretsSet: ["url"] });

    const G = `${P}/alert-groups`;
    expect((await refused(h, "POST", G, { name: "g", channels: [] })).paths).toEqual(["channels"]);
    expect((await refused(h, "POST", G, { name: "g", channels: ["chat", "ghost"] })).paths).toEqual(["channels.1"]);
    expect((await refused(h, "POST", G, { name: "g", globalChannels: ["chat"] })).paths).toEqual(["globalChannels.0"]);
    expect((await h.call("POST", G, { body: { name: "g", channels: ["chat"] } })).status).toBe(201);

    const A = `${P}/alert-policies`;
    expect((await refused(h, "POST", A, { workflow: "nightly", schedule: 1, group: "g", events: ["failure"] })).paths).toEqual(["workflow"]);
    expect((await refused(h, "POST", A, { group: "g", events: ["failure"] })).paths).toEqual(["workflow"]);
    expect((await refused(h, "POST", A, { workflow: "nightly", group: "g", events: ["sometimes"] })).paths).toEqual(["events.0"]);
    expect((await refused(h, "POST", A, { workflow: "nightly", group: "g", events: [] })).paths).toEqual(["events"]);
    expect((await refused(h, "POST", A, { workflow: "ghost", group: "g", events: ["failure"] })).paths).toEqual(["workflow"]);
    expect((await refused(h, "POST", A, { schedule: 999, group: "g", events: ["misfire"] })).paths).toEqual(["schedule"]);
    expect((await refused(h, "POST", A, { workflow: "nightly", group: "ghost", events: ["failure"] })).paths).toEqual(["group"]);
    const ok = await h.call("POST", A, { body: { workflow: "nightly", group: "g", events: ["failure", "task-failed", "task-warn-timeout"] } });
    expect(ok.json).toMatchObject({ workflow: "nightly", group: "g", events: ["failure", "task-warn-timeout", "task-failed"] });
    expect((await h.call("PUT", `${A}/${ok.json.id}`, { body: { events: ["always"] } })).json.events).toEqual(["always"]);
    expectError(await h.call("DELETE", `${G}/g`), 409, "CONFLICT", /polic/);
    expectError(await h.call("DELETE", `${C}/chat`), 409, "CONFLICT", /"g"/);
  });

  test("roles: viewers read, developers write; global channels are for administrators; another project's channels are out of reach", async () => {
    await using h = await apiHarness(dialect);
    await project(h);
    const viewer = await h.user("vera");
    const dev = await h.user("dave");
    await h.call("POST", `${P}/members`, { body: { user: "vera", role: "viewer" } });
    await h.call("POST", `${P}/members`, { body: { user: "dave", role: "developer" } });
    const body = { name: "chat", type: "slack", secrets: { url: "https://hooks.example.com/x" } };
    expectError(await h.call("POST", `${P}/alert-channels`, { token: viewer.token, body }), 403, "FORBIDDEN");
    expect((await h.call("POST", `${P}/alert-channels`, { token: dev.token, body })).status).toBe(201);
    expect((await h.call("GET", `${P}/alert-channels/chat`, { token: viewer.token })).json.secretsSet).toEqual(["url"]);
    expectError(await h.call("POST", `${P}/alert-channels/chat/test`, { token: viewer.token }), 403, "FORBIDDEN");

    expectError(await h.call("POST", "/api/v1/alert-channels", { token: dev.token, body }), 403, "FORBIDDEN");
    expect((await h.call("POST", "/api/v1/alert-channels", { body: { ...body, name: "company-pager", type: "pagerduty", secrets: { routingKey: "k" } } })).status).toBe(201);
    // A developer may use a global channel by name in a group, without seeing its settings.
    const group = await h.call("POST", `${P}/alert-groups`, { token: dev.token, body: { name: "g", channels: ["chat"], globalChannels: ["company-pager"] } });
    expect(group.json.channels).toEqual([{ name: "chat", type: "slack", global: false }, { name: "company-pager", type: "pagerduty", global: true }]);

    // Admins see every delivery, the global channels' test-sends too; others may not.
    await h.call("POST", "/api/v1/alert-channels/company-pager/test");
    expect((await h.call("GET", "/api/v1/alert-deliveries")).json.items.map((d: { channel: string }) => d.channel)).toEqual(["company-pager"]);
    expectError(await h.call("GET", "/api/v1/alert-deliveries", { token: dev.token }), 403, "FORBIDDEN");

    // Dave's own project cannot name analytics' channel.
    await h.call("POST", "/api/v1/projects", { token: dev.token, body: { name: "daves" } });
    const err = expectError(await h.call("POST", "/api/v1/projects/daves/alert-groups", { token: dev.token, body: { name: "steal", channels: ["chat"] } }), 400, "VALIDATION_FAILED");
    expect(err.details.map((d) => d.path)).toEqual(["channels.0"]);
  });

  test("test-send: the receiver's answer comes back and is listed; link-local and metadata addresses are refused", async () => {
    await using hooks = httpReceiver();
    await using h = await apiHarness(dialect);
    await project(h);
    await h.call("POST", `${P}/alert-channels`, { body: { name: "hook", type: "webhook", settings: { preset: "teams" }, secrets: { url: `${hooks.url}/teams` } } });
    const sent = await h.call("POST", `${P}/alert-channels/hook/test`);
    expect(sent.status).toBe(200);
    expect(sent.json).toMatchObject({ channel: "hook", channelType: "webhook", kind: "TEST", status: "sent", detail: "HTTP 202: ok" });
    expect(hooks.on("/teams")[0]!.json).toMatchObject({ "@type": "MessageCard", title: "[porpoise] test alert: analytics" });
    hooks.failNext("/teams", 1);
    expect((await h.call("POST", `${P}/alert-channels/hook/test`)).json).toMatchObject({ status: "failed", detail: "HTTP 500: receiver down" });
    expect((await h.call("GET", `${P}/alert-deliveries`)).json).toMatchObject({ total: 2, pending: 0 });

    await h.call("POST", `${P}/alert-channels`, { body: { name: "imds", type: "webhook", secrets: { url: "http://169.254.169.254/latest/meta-data" } } });
    const denied = await h.call("POST", `${P}/alert-channels/imds/test`);
    expect(denied.json.status).toBe("failed");
    expect(denied.json.detail).toMatch(/169\.254\.0\.0\/16/);
    await h.call("POST", `${P}/alert-channels`, { body: { name: "gce", type: "slack", secrets: { url: "http://metadata.google.internal/x" } } });
    expect((await h.call("POST", `${P}/alert-channels/gce/test`)).json.detail).toMatch(/metadata\.google\.internal/);
    expectError(await h.call("POST", `${P}/alert-channels/ghost/test`), 404, "NOT_FOUND");

    // Nothing the receiver or the network says repeats a secret: the URL's path (a chat tool's token) is hidden.
    await h.call("POST", `${P}/alert-channels`, { body: { name: "closed", type: "slack", secrets: { url: "http://127.0.0.1:1/services/T0/canary-path-token" } } });
    const closed = await h.call("POST", `${P}/alert-channels/closed/test`);
    expect(closed.json.status).toBe("failed");
    expect(closed.text).not.toContain("canary-path-token");
    const echo = `${hooks.url}/echo/canary-echo-token`;
    await h.call("POST", `${P}/alert-channels`, { body: { name: "echo", type: "webhook", secrets: { url: echo } } });
    hooks.failNext("/echo/canary-echo-token", 1);
    const echoed = await h.call("POST", `${P}/alert-channels/echo/test`);
    expect(echoed.json).toMatchObject({ status: "failed", detail: "HTTP 500: no hook at ***" });
    expect((await h.call("GET", `${P}/alert-deliveries`)).text).not.toContain("canary-echo-token");
  });

  test("email over TLS from the first byte with AUTH; a wrong password is a failed delivery naming the SMTP refusal", async () => {
    await using smtp = await smtpReceiver({ user: "porpoise", pass: "right" }, { secure: true });
    await using h = await apiHarness(dialect);
    await project(h);
    const settings = { host: "127.0.0.1", port: smtp.port, security: "tls", rejectUnauthorized: false, user: "porpoise", from: "porpoise@example.com", to: ["a@example.com", "b@example.com"] };
    await h.call("POST", `${P}/alert-channels`, { body: { name: "mail", type: "email", settings, secrets: { password: "right" } } });
    const sent = await h.call("POST", `${P}/alert-channels/mail/test`);
    expect(sent.json).toMatchObject({ status: "sent", detail: expect.stringContaining("SMTP accepted for 2 recipient(s)") });
    expect(smtp.mails.map((m) => ({ to: m.to, user: m.user, secure: m.secure }))).toEqual([{ to: ["a@example.com", "b@example.com"], user: "porpoise", secure: true }]);
    expect(smtp.mails[0]!.text).toContain("Subject: [porpoise] test alert: analytics");

    await h.call("PUT", `${P}/alert-channels/mail`, { body: { secrets: { password: "wrong-canary" } } });
    const refused = await h.call("POST", `${P}/alert-channels/mail/test`);
    expect(refused.json).toMatchObject({ status: "failed", detail: expect.stringMatching(/EAUTH 535/) });
    expect(refused.text).not.toContain("wrong-canary");
    expect(smtp.mails.length).toBe(1);
  });
});
