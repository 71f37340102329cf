// The route registry: every route the API serves, in one list. The app mounts
// it, the OpenAPI document describes it, and the authorization tests walk it.

import type { Route } from "../route.ts";
import { alertChannelRoutes } from "./alert-channels.ts";
import { alertRoutes } from "./alerts.ts";
import { auditRoutes } from "./audit.ts";
import { authRoutes } from "./auth.ts";
import { backfillRoutes } from "./backfills.ts";
import { clusterRoutes } from "./cluster.ts";
import { datasourceRoutes } from "./datasources.ts";
import { healthRoutes } from "./health.ts";
import { instanceRoutes } from "./instances.ts";
import { liveRoutes } from "./live.ts";
import { memberRoutes } from "./members.ts";
import { openapiRoutes } from "./openapi.ts";
import { projectParamRoutes } from "./project-params.ts";
import { projectRoutes } from "./projects.ts";
import { scheduleRoutes } from "./schedules.ts";
import { taskInstanceRoutes } from "./task-instances.ts";
import { tokenRoutes } from "./tokens.ts";
import { userRoutes } from "./users.ts";
import { workerTokenRoutes } from "./worker-tokens.ts";
import { workflowRoutes } from "./workflows.ts";

export const routeRegistry: readonly Route[] = [
  ...healthRoutes,
  ...openapiRoutes,
  ...authRoutes,
  ...userRoutes,
  ...tokenRoutes,
  ...projectRoutes,
  ...projectParamRoutes,
  ...memberRoutes,
  ...workflowRoutes,
  ...scheduleRoutes,
  ...backfillRoutes,
  ...instanceRoutes,
  ...taskInstanceRoutes,
  ...datasourceRoutes,
  ...alertChannelRoutes,
  ...alertRoutes,
  ...auditRoutes,
  ...clusterRoutes,
  ...liveRoutes,
  ...workerTokenRoutes,
];
