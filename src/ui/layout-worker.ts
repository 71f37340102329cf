// Lays out a DAG with @dagrejs/dagre off the main thread (a Web Worker, loaded only when a page
// draws a DAG, so dagre is not in the first load). Input and output are plain data (dag.tsx).

import dagre from "@dagrejs/dagre";

export interface LayoutRequest { key: string; nodes: { id: string; width: number; height: number }[]; edges: { from: string; to: string }[] }
export interface LayoutResult {
  key: string;
  width: number;
  height: number;
  nodes: { id: string; x: number; y: number; width: number; height: number }[];
  edges: { from: string; to: string; points: { x: number; y: number }[] }[];
}

const scope = self as unknown as { onmessage: ((e: MessageEvent<LayoutRequest>) => void) | null; postMessage(m: LayoutResult): void };

scope.onmessage = (e) => {
  const req = e.data;
  const g = new dagre.graphlib.Graph();
  // dagre's default ranker (network simplex) took 6.0 s of a 1,000-task layered DAG's layout here,
  // tight-tree 0.6 s with the same ranks on that shape (bun, 2 loaded cores): the first paint of
  // the bench's 1,000-task page went from 7-20 s to ~2 s. Small DAGs keep the better ranking.
  const ranker = req.nodes.length > 150 ? "tight-tree" : "network-simplex";
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 48, marginx: 12, marginy: 12, ranker });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of req.nodes) g.setNode(n.id, { width: n.width, height: n.height });
  for (const ed of req.edges) if (g.hasNode(ed.from) && g.hasNode(ed.to)) g.setEdge(ed.from, ed.to);
  dagre.layout(g);
  const graph = g.graph();
  scope.postMessage({
    key: req.key,
    width: graph.width ?? 0,
    height: graph.height ?? 0,
    nodes: g.nodes().map((id) => {
      const n = g.node(id);
      return { id, x: n.x, y: n.y, width: n.width, height: n.height };
    }),
    edges: g.edges().map((ed) => ({ from: ed.v, to: ed.w, points: (g.edge(ed).points ?? []).map((p: { x: number; y: number }) => ({ x: p.x, y: p.y })) })),
  });
};
