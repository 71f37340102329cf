// Alert channels: a project's (developers write, viewers read) and global ones (administrators
// only; every project's groups may use them). Secrets are write-only (alert-views.ts). The
// test-send route sends one test message at once and answers with the receiver's response.

import { z } from "zod";
import { NotFoundError, ValidationError } from "../../core/errors.ts";
import { testSend } from "../../alerts/test-send.ts";
import { defineRoute, type Route } from "../route.ts";
import { pagingQuery, pathName } from "../schemas.ts";
import { pageOf } from "../views.ts";
import {
  channelView,
  checkChannelUpdate,
  createChannelBody,
  deliveryView,
  toChannelView,
  toDeliveryView,
  updateChannelBody,
} from "../alert-views.ts";
import type { ApiDeps } from "../deps.ts";
import type { Actor } from "../../store/store.ts";

const example = { name: "ops-webhook", type: "webhook", settings: { preset: "generic" }, secrets: { url: "https://hooks.example.com/porpoise", signingSecret: "s3cret" } };

/** Where the channels of a route live: a project's, or the global ones. */
interface Scope {
  projectId: number | null;
  label: string;
}

async function update(deps: ApiDeps, scope: Scope, name: string, body: z.output<typeof updateChannelBody>, actor: Actor) {
  const current = await deps.store.alerts.getChannel(scope.projectId, name);
  if (!current) throw new NotFoundError(`alert channel "${name}" does not exist ${scope.label}`);
  const checked = checkChannelUpdate(current.type, current, body);
  if (checked.problems.length > 0) throw new ValidationError(checked.problems.map((p) => `${p.path}: ${p.message}`).join("; "), checked.problems);
  const secrets = body.secrets as Record<string, string | null> | undefined;
  const patch = { name: body.name, description: body.description, settings: body.settings ? checked.settings : undefined, secrets };
  return toChannelView(await deps.store.alerts.updateChannel(scope.projectId, name, patch, actor));
}

async function sendTest(deps: ApiDeps, scope: Scope, projectName: string | null, name: string, who: string) {
  const delivery = await testSend(deps.store, deps.alerts, { projectId: scope.projectId, projectName, channelName: name, who });
  if (!delivery) throw new NotFoundError(`alert channel "${name}" does not exist ${scope.label}`);
  return toDeliveryView(delivery);
}

const projectParams = z.strictObject({ project: pathName("project name") });
const channelParams = z.strictObject({ project: pathName("project name"), name: pathName("alert channel name") });
const globalParams = z.strictObject({ name: pathName("alert channel name") });
const PROJECT = "/api/v1/projects/:project/alert-channels";
const GLOBAL = "/api/v1/alert-channels";
const inProject = (id: number): Scope => ({ projectId: id, label: "in this project" });
const GLOBAL_SCOPE: Scope = { projectId: null, label: "among the global channels" };

export const alertChannelRoutes: Route[] = [
  defineRoute({
    method: "POST", path: PROJECT, operationId: "createAlertChannel", tag: "alerts", auth: "user", projectRole: "developer",
    summary: "Create an alert channel (webhook, slack, email, pagerduty); secrets are write-only",
    params: projectParams, body: createChannelBody, example, response: channelView,
    handler: async ({ body, deps, access, actor }) => toChannelView(await deps.store.alerts.createChannel(access.project.id, body, actor)),
  }),
  defineRoute({
    method: "GET", path: PROJECT, operationId: "listAlertChannels", tag: "alerts", auth: "user", projectRole: "viewer",
    summary: "List the project's alert channels (secrets are never shown)",
    params: projectParams, query: pagingQuery, response: pageOf(channelView),
    handler: async ({ query, deps, access }) => {
      const page = await deps.store.alerts.listChannels(access.project.id, query);
      return { items: page.items.map(toChannelView), total: page.total, ...query };
    },
  }),
  defineRoute({
    method: "GET", path: `${PROJECT}/:name`, operationId: "getAlertChannel", tag: "alerts", auth: "user", projectRole: "viewer",
    summary: "Get an alert channel (secrets are never shown)",
    params: channelParams, response: channelView,
    handler: async ({ params, deps, access }) => {
      const found = await deps.store.alerts.getChannel(access.project.id, params.name);
      if (!found) throw new NotFoundError(`alert channel "${params.name}" does not exist in project "${access.project.name}"`);
      return toChannelView(found);
    },
  }),
  defineRoute({
    method: "PUT", path: `${PROJECT}/:name`, operationId: "updateAlertChannel", tag: "alerts", auth: "user", projectRole: "developer",
    summary: "Change an alert channel: settings are replaced, secrets merged (null removes one)",
    params: channelParams, body: updateChannelBody, example: { description: "on-call", secrets: { signingSecret: "n3w" } }, response: channelView,
    handler: ({ params, body, deps, access, actor }) => update(deps, inProject(access.project.id), params.name, body, actor),
  }),
  defineRoute({
    method: "DELETE", path: `${PROJECT}/:name`, operationId: "deleteAlertChannel", tag: "alerts", auth: "user", projectRole: "developer", status: 204,
    summary: "Delete an alert channel (refused while a group uses it)",
    params: channelParams,
    handler: async ({ params, deps, access, actor }) => deps.store.alerts.deleteChannel(access.project.id, params.name, actor),
  }),
  defineRoute({
    method: "POST", path: `${PROJECT}/:name/test`, operationId: "testAlertChannel", tag: "alerts", auth: "user", projectRole: "developer", status: 200,
    summary: "Send a test alert through the channel now; answers with the receiver's response (also listed in deliveries)",
    params: channelParams, response: deliveryView,
    handler: ({ params, deps, access, principal }) => sendTest(deps, inProject(access.project.id), access.project.name, params.name, principal.user.name),
  }),

  defineRoute({
    method: "POST", path: GLOBAL, operationId: "createGlobalAlertChannel", tag: "alerts", auth: "admin",
    summary: "Create a global alert channel, usable by every project's groups (administrators)",
    body: createChannelBody, example, response: channelView,
    handler: async ({ body, deps, actor }) => toChannelView(await deps.store.alerts.createChannel(null, body, actor)),
  }),
  defineRoute({
    method: "GET", path: GLOBAL, operationId: "listGlobalAlertChannels", tag: "alerts", auth: "admin",
    summary: "List the global alert channels (administrators)",
    query: pagingQuery, response: pageOf(channelView),
    handler: async ({ query, deps }) => {
      const page = await deps.store.alerts.listChannels(null, query);
      return { items: page.items.map(toChannelView), total: page.total, ...query };
    },
  }),
  defineRoute({
    method: "GET", path: `${GLOBAL}/:name`, operationId: "getGlobalAlertChannel", tag: "alerts", auth: "admin",
    summary: "Get a global alert channel (administrators)",
    params: globalParams, response: channelView,
    handler: async ({ params, deps }) => {
      const found = await deps.store.alerts.getChannel(null, params.name);
      if (!found) throw new NotFoundError(`alert channel "${params.name}" does not exist among the global channels`);
      return toChannelView(found);
    },
  }),
  defineRoute({
    method: "PUT", path: `${GLOBAL}/:name`, operationId: "updateGlobalAlertChannel", tag: "alerts", auth: "admin",
    summary: "Change a global alert channel (administrators)",
    params: globalParams, body: updateChannelBody, example: { description: "on-call" }, response: channelView,
    handler: ({ params, body, deps, actor }) => update(deps, GLOBAL_SCOPE, params.name, body, actor),
  }),
  defineRoute({
    method: "DELETE", path: `${GLOBAL}/:name`, operationId: "deleteGlobalAlertChannel", tag: "alerts", auth: "admin", status: 204,
    summary: "Delete a global alert channel (refused while a group uses it)",
    params: globalParams,
    handler: async ({ params, deps, actor }) => deps.store.alerts.deleteChannel(null, params.name, actor),
  }),
  defineRoute({
    method: "GET", path: "/api/v1/alert-deliveries", operationId: "listAllAlertDeliveries", tag: "alerts", auth: "admin",
    summary: "Every project's alert deliveries, and the test-sends of global channels (administrators)",
    query: pagingQuery, response: pageOf(deliveryView),
    handler: async ({ query, deps }) => {
      const page = await deps.store.alerts.listDeliveries(null, query);
      return { items: page.items.map(toDeliveryView), total: page.total, ...query };
    },
  }),
  defineRoute({
    method: "POST", path: `${GLOBAL}/:name/test`, operationId: "testGlobalAlertChannel", tag: "alerts", auth: "admin", status: 200,
    summary: "Send a test alert through a global channel now (administrators)",
    params: globalParams, response: deliveryView,
    handler: ({ params, deps, principal }) => sendTest(deps, GLOBAL_SCOPE, null, params.name, principal.user.name),
  }),
];

