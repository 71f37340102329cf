// The shapes the UI reads from the public API (src/api/views.ts, instance-views.ts), as far as it uses them.

export interface Page<T> { items: T[]; total: number; limit: number; offset: number }
export interface User { id: number; name: string; isAdmin: boolean; disabled: boolean; email?: string | null }
export interface Project { id: number; name: string; description: string; params: Record<string, string> }
export interface Member { userId: number; userName: string; role: Role }
export type Role = "owner" | "developer" | "viewer";
export interface TaskDef { name: string; type: string; deps?: string[]; [k: string]: unknown }
export interface Definition { name: string; tasks: TaskDef[]; [k: string]: unknown }
export interface Workflow {
  id: number; name: string; description: string; releaseState: "ONLINE" | "OFFLINE";
  currentVersion: number; latestVersion: number; updatedAt: string;
}
export interface WorkflowDetail extends Workflow { definition: Definition }
export interface VersionSummary { version: number; createdAt: string; createdBy: number | null }
export interface Instance {
  id: number; project: string; workflowId: number; workflowName: string; workflowVersion: number; state: string; runType: string;
  params: Record<string, string>; message: string | null; runTimes: number; dryRun: boolean;
  startTime: string | null; endTime: string | null; createdAt: string; updatedAt: string;
}
export interface Task {
  id: number; workflowInstanceId: number; taskName: string; taskType: string; state: string; attempt: number;
  host: string | null; submitTime: string | null; startTime: string | null; endTime: string | null;
  params: Record<string, string>; outParams: Record<string, string> | null; exitCode: number | null;
  message: string | null; superseded: boolean; createdAt: string; updatedAt: string;
}
export interface InstanceDetail extends Instance { taskCount: number | null; tasks: Task[] }
export interface Schedule {
  id: number; workflowId: number; cron: string; timezone: string; releaseState: "ONLINE" | "OFFLINE";
  startTime: string | null; endTime: string | null; failureStrategy: string; priority: string; workerGroup: string;
  catchup: string; lastFireTime: string | null;
}
export interface GridCell { taskInstanceId: number; state: string; attempt: number; startTime: string | null; endTime: string | null }
export interface GridRun { id: number; state: string; workflowVersion: number; createdAt: string; startTime: string | null; endTime: string | null; cells: Record<string, GridCell> }
export interface GridPage { tasks: string[]; runs: GridRun[]; total: number; limit: number; offset: number }
