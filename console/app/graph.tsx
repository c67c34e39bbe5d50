/**
 * A left-to-right graph in SVG: each node in the column of its longest path from a
 * source, edges as curves with labels. Drawn here rather than by a diagram library, so
 * nothing is fetched and the CSP stays strict.
 */
export interface GraphNode {
  readonly id: string;
  readonly kind: string;
  readonly label: string;
  /** Extra lines under the label (counts, caps). */
  readonly lines?: readonly string[];
  /** Drawn as needing attention (a DLQ that is not empty). */
  readonly alert?: boolean;
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly label?: string;
  readonly dashed?: boolean;
}

const NODE_W = 168;
/** Room for an edge's label, which sits just before the node it points at. */
const COL_GAP = 120;
const ROW_GAP = 18;
const LINE_H = 16;

export function Graph({ nodes, edges, title }: { nodes: readonly GraphNode[]; edges: readonly GraphEdge[]; title: string }) {
  const column = new Map<string, number>(nodes.map((n) => [n.id, 0]));
  // Longest path from a source (the graphs are small and acyclic; the bound stops a cycle).
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const edge of edges) {
      const next = (column.get(edge.from) ?? 0) + 1;
      if (column.has(edge.to) && next > column.get(edge.to)!) {
        column.set(edge.to, next);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const heightOf = (node: GraphNode) => 28 + (node.lines?.length ?? 0) * LINE_H;
  const columns: GraphNode[][] = [];
  for (const node of nodes) (columns[column.get(node.id)!] ??= []).push(node);
  const columnHeights = columns.map((col) => col.reduce((sum, node) => sum + heightOf(node) + ROW_GAP, -ROW_GAP));
  const height = Math.max(...columnHeights, 60) + 40;
  const position = new Map<string, { x: number; y: number; h: number }>();
  columns.forEach((col, c) => {
    let y = (height - columnHeights[c]!) / 2;
    for (const node of col) {
      position.set(node.id, { x: 20 + c * (NODE_W + COL_GAP), y, h: heightOf(node) });
      y += heightOf(node) + ROW_GAP;
    }
  });
  const width = 40 + columns.length * NODE_W + (columns.length - 1) * COL_GAP;
  return (
    <svg class="graph" viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={title}>
      <title>{title}</title>
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" class="arrow" />
        </marker>
      </defs>
      {edges.map((edge) => {
        const from = position.get(edge.from);
        const to = position.get(edge.to);
        if (!from || !to) return null;
        const x1 = from.x + NODE_W;
        const y1 = from.y + from.h / 2;
        const x2 = to.x;
        const y2 = to.y + to.h / 2;
        const mid = (x1 + x2) / 2;
        return (
          <g class={edge.dashed ? "edge dashed" : "edge"}>
            <path d={`M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2 - 2} ${y2}`} marker-end="url(#arrow)" />
            {edge.label && (
              <text x={x2 - 8} y={y2 - 5} text-anchor="end" class="edge-label">
                {edge.label}
              </text>
            )}
          </g>
        );
      })}
      {nodes.map((node) => {
        const at = position.get(node.id)!;
        return (
          <g class={`node node-${node.kind}${node.alert ? " alert" : ""}`} data-node={node.id} transform={`translate(${at.x} ${at.y})`}>
            <rect width={NODE_W} height={at.h} rx={node.kind === "queue" || node.kind === "dlq" ? 10 : node.kind === "producers" ? at.h / 2 : 3} />
            <text x={NODE_W / 2} y={19} text-anchor="middle" class="node-label">
              {node.label}
            </text>
            {(node.lines ?? []).map((line, i) => (
              <text x={NODE_W / 2} y={19 + (i + 1) * LINE_H} text-anchor="middle" class="node-line">
                {line}
              </text>
            ))}
          </g>
        );
      })}
    </svg>
  );
}
