// The audit log: who changed what, when, and the versions before and after.

import { z } from "zod";
import { defineRoute } from "../route.ts";
import { paging, pagingQuery, pathName } from "../schemas.ts";
import { projectNotFound } from "../access.ts";
import { auditView, pageOf, toAudit } from "../views.ts";

export const auditRoutes = [
  defineRoute({
    method: "GET",
    path: "/api/v1/projects/:project/audit",
    operationId: "listProjectAudit",
    tag: "audit",
    summary: "A project's audit log, newest first",
    auth: "user",
    projectRole: "viewer",
    params: z.strictObject({ project: pathName("project name") }),
    query: pagingQuery,
    response: pageOf(auditView),
    handler: async ({ query, deps, access }) => {
      const page = await deps.store.audit.list({ ...query, projectId: access.project.id });
      return { items: page.items.map(toAudit), total: page.total, ...query };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/api/v1/audit",
    operationId: "listAudit",
    tag: "audit",
    summary: "The whole audit log, newest first (administrators)",
    auth: "admin",
    query: z.strictObject({ ...paging, project: z.string().min(1).max(200).optional().describe("only this project") }),
    response: pageOf(auditView),
    handler: async ({ query, deps }) => {
      const { project: name, ...page } = query;
      let projectId: number | undefined;
      if (name !== undefined) {
        const project = await deps.store.projects.getByName(name);
        if (!project) throw projectNotFound(name);
        projectId = project.id;
      }
      const found = await deps.store.audit.list({ ...page, projectId });
      return { items: found.items.map(toAudit), total: found.total, ...page };
    },
  }),
];
