// Alert groups (channels together), policies (when a workflow's or a schedule's runs alert a
// group) and the record of deliveries, per project. Channels are in alert-channels.ts.

import { z } from "zod";
import { eventMask, type AlertEventName } from "../../core/alert-events.ts";
import { NotFoundError, ValidationError } from "../../core/errors.ts";
import type { AlertPolicy, Store } from "../../store/store.ts";
import type { ProjectAccess } from "../access.ts";
import { defineRoute, type Route } from "../route.ts";
import { paging, pagingQuery, pathName, positiveInt } from "../schemas.ts";
import { pageOf } from "../views.ts";
import {
  createGroupBody,
  createPolicyBody,
  deliveryView,
  groupView,
  policyView,
  toDeliveryView,
  toGroupView,
  toPolicyView,
  updateGroupBody,
  updatePolicyBody,
} from "../alert-views.ts";

const projectParams = z.strictObject({ project: pathName("project name") });
const groupParams = z.strictObject({ project: pathName("project name"), name: pathName("alert group name") });
const policyParams = z.strictObject({ project: pathName("project name"), id: positiveInt("alert policy id") });

async function groupId(store: Store, access: ProjectAccess, name: string): Promise<number> {
  const group = await store.alerts.getGroup(access.project.id, name);
  if (!group) throw new ValidationError(`alert group "${name}" does not exist in project "${access.project.name}"`, [{ path: "group", message: `alert group "${name}" does not exist in this project` }]);
  return group.id;
}

async function policyNames(store: Store, access: ProjectAccess, p: AlertPolicy) {
  const groups = await store.alerts.listGroups(access.project.id, { limit: 500, offset: 0 });
  return {
    workflow: p.workflowId === null ? null : await store.alerts.workflowName(p.workflowId),
    group: groups.items.find((g) => g.id === p.groupId)?.name ?? `#${p.groupId}`,
  };
}

async function findPolicy(store: Store, access: ProjectAccess, id: number): Promise<AlertPolicy> {
  const p = await store.alerts.getPolicy(access.project.id, id);
  if (!p) throw new NotFoundError(`alert policy ${id} does not exist in project "${access.project.name}"`);
  return p;
}

const groupExample = { name: "on-call", channels: ["ops-webhook"], globalChannels: [] };
const policyExample = { workflow: "nightly", group: "on-call", events: ["failure", "task-failed"] };

export const alertRoutes: Route[] = [
  defineRoute({
    method: "POST", path: "/api/v1/projects/:project/alert-groups", operationId: "createAlertGroup", tag: "alerts", auth: "user", projectRole: "developer",
    summary: "Create an alert group: the project's channels and global ones, by name",
    params: projectParams, body: createGroupBody, example: groupExample, response: groupView,
    handler: async ({ body, deps, access, actor }) => toGroupView(await deps.store.alerts.createGroup(access.project.id, body, actor)),
  }),
  defineRoute({
    method: "GET", path: "/api/v1/projects/:project/alert-groups", operationId: "listAlertGroups", tag: "alerts", auth: "user", projectRole: "viewer",
    summary: "List alert groups",
    params: projectParams, query: pagingQuery, response: pageOf(groupView),
    handler: async ({ query, deps, access }) => {
      const page = await deps.store.alerts.listGroups(access.project.id, query);
      return { items: page.items.map(toGroupView), total: page.total, ...query };
    },
  }),
  defineRoute({
    method: "GET", path: "/api/v1/projects/:project/alert-groups/:name", operationId: "getAlertGroup", tag: "alerts", auth: "user", projectRole: "viewer",
    summary: "Get an alert group",
    params: groupParams, response: groupView,
    handler: async ({ params, deps, access }) => {
      const g = await deps.store.alerts.getGroup(access.project.id, params.name);
      if (!g) throw new NotFoundError(`alert group "${params.name}" does not exist in project "${access.project.name}"`);
      return toGroupView(g);
    },
  }),
  defineRoute({
    method: "PUT", path: "/api/v1/projects/:project/alert-groups/:name", operationId: "updateAlertGroup", tag: "alerts", auth: "user", projectRole: "developer",
    summary: "Change an alert group (channels or globalChannels given replace that list)",
    params: groupParams, body: updateGroupBody, example: { description: "day shift" }, response: groupView,
    handler: async ({ params, body, deps, access, actor }) => toGroupView(await deps.store.alerts.updateGroup(access.project.id, params.name, body, actor)),
  }),
  defineRoute({
    method: "DELETE", path: "/api/v1/projects/:project/alert-groups/:name", operationId: "deleteAlertGroup", tag: "alerts", auth: "user", projectRole: "developer", status: 204,
    summary: "Delete an alert group (refused while a policy uses it)",
    params: groupParams,
    handler: async ({ params, deps, access, actor }) => deps.store.alerts.deleteGroup(access.project.id, params.name, actor),
  }),

  defineRoute({
    method: "POST", path: "/api/v1/projects/:project/alert-policies", operationId: "createAlertPolicy", tag: "alerts", auth: "user", projectRole: "developer",
    summary: "Create an alert policy: which events of a workflow's (or a schedule's) runs alert which group",
    params: projectParams, body: createPolicyBody, example: policyExample, response: policyView,
    handler: async ({ body, deps, access, actor }) => {
      let workflowId: number | null = null;
      let scheduleId: number | null = null;
      if (body.workflow !== undefined) {
        const wf = await deps.store.workflows.get(access.project.id, body.workflow);
        if (!wf) throw new ValidationError(`workflow "${body.workflow}" does not exist in project "${access.project.name}"`, [{ path: "workflow", message: `workflow "${body.workflow}" does not exist in this project` }]);
        workflowId = wf.id;
      } else {
        const s = await deps.store.schedules.get(body.schedule!);
        if (!s || s.projectId !== access.project.id) throw new ValidationError(`schedule ${body.schedule} does not exist in project "${access.project.name}"`, [{ path: "schedule", message: `schedule ${body.schedule} does not exist in this project` }]);
        scheduleId = s.id;
      }
      const policy = await deps.store.alerts.createPolicy(
        access.project.id,
        { workflowId, scheduleId, groupId: await groupId(deps.store, access, body.group), events: eventMask(body.events as AlertEventName[]) },
        actor,
      );
      return toPolicyView(policy, await policyNames(deps.store, access, policy));
    },
  }),
  defineRoute({
    method: "GET", path: "/api/v1/projects/:project/alert-policies", operationId: "listAlertPolicies", tag: "alerts", auth: "user", projectRole: "viewer",
    summary: "List alert policies",
    params: projectParams, query: pagingQuery, response: pageOf(policyView),
    handler: async ({ query, deps, access }) => {
      const page = await deps.store.alerts.listPolicies(access.project.id, query);
      const items = [];
      for (const p of page.items) items.push(toPolicyView(p, await policyNames(deps.store, access, p)));
      return { items, total: page.total, ...query };
    },
  }),
  defineRoute({
    method: "GET", path: "/api/v1/projects/:project/alert-policies/:id", operationId: "getAlertPolicy", tag: "alerts", auth: "user", projectRole: "viewer",
    summary: "Get an alert policy",
    params: policyParams, response: policyView,
    handler: async ({ params, deps, access }) => {
      const p = await findPolicy(deps.store, access, params.id);
      return toPolicyView(p, await policyNames(deps.store, access, p));
    },
  }),
  defineRoute({
    method: "PUT", path: "/api/v1/projects/:project/alert-policies/:id", operationId: "updateAlertPolicy", tag: "alerts", auth: "user", projectRole: "developer",
    summary: "Change an alert policy's group or events",
    params: policyParams, body: updatePolicyBody, example: { events: ["always"] }, response: policyView,
    handler: async ({ params, body, deps, access, actor }) => {
      const patch = {
        ...(body.group !== undefined ? { groupId: await groupId(deps.store, access, body.group) } : {}),
        ...(body.events !== undefined ? { events: eventMask(body.events as AlertEventName[]) } : {}),
      };
      const p = await deps.store.alerts.updatePolicy(access.project.id, params.id, patch, actor);
      return toPolicyView(p, await policyNames(deps.store, access, p));
    },
  }),
  defineRoute({
    method: "DELETE", path: "/api/v1/projects/:project/alert-policies/:id", operationId: "deleteAlertPolicy", tag: "alerts", auth: "user", projectRole: "developer", status: 204,
    summary: "Delete an alert policy",
    params: policyParams,
    handler: async ({ params, deps, access, actor }) => deps.store.alerts.deletePolicy(access.project.id, params.id, actor),
  }),

  defineRoute({
    method: "GET", path: "/api/v1/projects/:project/alert-deliveries", operationId: "listAlertDeliveries", tag: "alerts", auth: "user", projectRole: "viewer",
    summary: "Every attempt to deliver the project's alerts, newest first: channel, status, the receiver's answer or the error",
    params: projectParams,
    query: z.strictObject({ ...paging, workflowInstance: positiveInt("only the alerts of this workflow instance").optional() }),
    response: pageOf(deliveryView).extend({ pending: z.number().int().describe("alerts of the project not delivered yet (waiting, or retrying)") }),
    handler: async ({ query, deps, access }) => {
      const page = await deps.store.alerts.listDeliveries(access.project.id, { limit: query.limit, offset: query.offset, ...(query.workflowInstance !== undefined ? { workflowInstanceId: query.workflowInstance } : {}) });
      return { items: page.items.map(toDeliveryView), total: page.total, limit: query.limit, offset: query.offset, pending: await deps.store.alerts.pendingCount(access.project.id) };
    },
  }),
];
