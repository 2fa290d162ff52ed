/** Graphviz drawing of a graph with its candidate cuts marked (`edgecut inspect --dot`). */
import type { Graph } from "./graph.js";
import type { ConstantInfo } from "./partition.js";
import type { CandidateCut } from "./cuts.js";

const esc = (s: string): string => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');

/**
 * DOT text: one box per non-constant node (constant nodes are left out: they are recomputed on
 * each side), model inputs and outputs as ellipses, and each candidate cut as a red dashed edge
 * label on the tensors it carries.
 */
export function toDot(g: Graph, constants: ConstantInfo, cuts: readonly CandidateCut[]): string {
  const lines = ["digraph edgecut {", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];'];
  const cutOf = new Map<string, number[]>();
  for (const c of cuts) for (const t of c.tensors) cutOf.set(t.name, [...(cutOf.get(t.name) ?? []), c.index]);
  for (const name of g.inputs) lines.push(`  "in:${esc(name)}" [shape=ellipse, label="${esc(name)}"];`);
  for (const name of g.outputs) lines.push(`  "out:${esc(name)}" [shape=ellipse, label="${esc(name)}"];`);
  for (const i of g.order) {
    if (constants.nodes.has(i)) continue;
    const n = g.nodes[i]!;
    lines.push(`  n${i} [label="${esc(n.opType)}\\n#${i}${n.proto.name ? `\\n${esc(n.proto.name)}` : ""}"];`);
  }
  const src = (t: string): string | undefined => {
    const e = g.tensors.get(t);
    if (!e) return undefined;
    if (e.origin === "input") return `"in:${esc(t)}"`;
    if (e.origin === "node" && e.producer !== null && !constants.nodes.has(e.producer)) return `n${e.producer}`;
    return undefined;
  };
  const edge = (from: string, to: string, t: string): void => {
    const marks = cutOf.get(t);
    lines.push(marks
      ? `  ${from} -> ${to} [color=red, style=dashed, penwidth=2, label="cut ${marks.join(",")}"];`
      : `  ${from} -> ${to};`);
  };
  for (const i of g.order) {
    if (constants.nodes.has(i)) continue;
    const n = g.nodes[i]!;
    const seen = new Set<string>();
    for (const t of [...n.inputs, ...n.implicitInputs]) {
      const from = src(t);
      if (from && !seen.has(t)) { seen.add(t); edge(from, `n${i}`, t); }
    }
  }
  for (const name of g.outputs) {
    const from = src(name);
    if (from) edge(from, `"out:${esc(name)}"`, name);
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}
