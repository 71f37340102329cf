// View 8: the cluster — ready-queue depth per worker group (groups nobody serves flagged), nodes (role, host, groups, slots, heartbeat age), edge workers (groups,
// version, architecture, heartbeat, running attempts) and slot leases.

import { useEffect } from "preact/hooks";
import { ErrorBox, Loading } from "../components.tsx";
import { useApi } from "../hooks.ts";

interface Queue {
  workerGroup: string;
  depth: number | null;
  dispatched: number;
  served: boolean | null;
}

interface Cluster {
  readyQueues?: Queue[] | null;
  nodes: { id: string; role: string; host: string; version: string; groups: string[]; slots: number[]; heartbeatAgeMs: number }[];
  edgeWorkers?: { id: string; host: string; version: string; arch: string; groups: string[]; slots: number; running: { taskInstanceId: number; attempt: number }[]; heartbeatAgeMs: number }[];
  slots: { count: number; held: number; leases: { slot: number; owner: string | null; epoch: number; expiresInMs: number | null }[] };
}

export function ClusterView() {
  const c = useApi<Cluster>("/cluster");
  useEffect(() => {
    const t = setInterval(c.reload, 5000);
    return () => clearInterval(t);
  }, []);
  return (
    <main>
      <h1>Cluster</h1>
      <ErrorBox error={c.error} />
      {!c.data && c.loading && <Loading what="cluster" />}
      {c.data && (
        <>
          <p>{c.data.nodes.length} nodes · {c.data.slots.held} of {c.data.slots.count} slots held</p>
          {c.data.readyQueues && <Queues queues={c.data.readyQueues} />}
          <h2>Nodes</h2>
          <table>
            <thead><tr><th>Node</th><th>Role</th><th>Host</th><th>Version</th><th>Worker groups</th><th>Slots</th><th>Heartbeat</th></tr></thead>
            <tbody>{c.data.nodes.map((n) => (
              <tr key={n.id}><td><code>{n.id}</code></td><td>{n.role}</td><td>{n.host}</td><td>{n.version}</td><td>{n.groups.join(", ")}</td><td>{n.slots.length}</td><td>{(n.heartbeatAgeMs / 1000).toFixed(1)} s ago</td></tr>
            ))}</tbody>
          </table>
          {(c.data.edgeWorkers?.length ?? 0) > 0 && (
            <>
              <h2>Edge workers</h2>
              <table>
                <thead><tr><th>Worker</th><th>Host</th><th>Version</th><th>Arch</th><th>Worker groups</th><th>Running</th><th>Heartbeat</th></tr></thead>
                <tbody>{c.data.edgeWorkers!.map((w) => (
                  <tr key={w.id}><td><code>{w.id}</code></td><td>{w.host}</td><td>{w.version}</td><td>{w.arch}</td><td>{w.groups.join(", ")}</td><td>{w.running.length} of {w.slots}</td><td>{(w.heartbeatAgeMs / 1000).toFixed(1)} s ago</td></tr>
                ))}</tbody>
              </table>
            </>
          )}
        </>
      )}
    </main>
  );
}

function Queues({ queues }: { queues: Queue[] }) {
  const unserved = queues.filter((q) => q.served === false && q.dispatched + (q.depth ?? 0) > 0);
  return (
    <>
      <h2>Ready queues</h2>
      {unserved.length > 0 && (
        <p class="warn" role="status">
          {unserved.map((q) => `${q.dispatched} task${q.dispatched === 1 ? "" : "s"} waiting for worker group "${q.workerGroup}", which no live worker serves`).join("; ")}
        </p>
      )}
      <table aria-label="ready queues">
        <thead><tr><th>Worker group</th><th>Queued (not claimed)</th><th>Dispatched (not started)</th><th>Served</th></tr></thead>
        <tbody>{queues.map((q) => (
          <tr key={q.workerGroup} data-group={q.workerGroup} data-depth={q.depth ?? ""} data-served={String(q.served)}>
            <td><code>{q.workerGroup}</code></td>
            <td>{q.depth ?? "unknown"}</td>
            <td>{q.dispatched}</td>
            <td>{q.served === null ? "not known yet" : q.served ? "yes" : "no live worker"}</td>
          </tr>
        ))}</tbody>
      </table>
    </>
  );
}
