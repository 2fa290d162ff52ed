/**
 * Maximum flow / minimum s-t cut with float capacities (Dinic's algorithm), for the optimal
 * two-way split. Infinite capacities are allowed on edges as long as every s-t path has a finite
 * edge. The DFS is iterative so graphs with long chains (deep models) do not overflow the stack.
 */

/** A flow network on vertices 0..n-1. */
export class FlowNetwork {
  private readonly head: number[][];
  private to: number[] = [];
  private cap: number[] = [];
  private maxFinite = 0;

  constructor(readonly n: number) {
    this.head = Array.from({ length: n }, () => []);
  }

  /** Adds a directed edge u -> v with capacity c (>= 0, may be Infinity). */
  addEdge(u: number, v: number, c: number): void {
    if (!(c >= 0)) throw new RangeError(`capacity must be >= 0, got ${c}`);
    if (c === 0 || u === v) return;
    if (Number.isFinite(c)) this.maxFinite = Math.max(this.maxFinite, c);
    this.head[u]!.push(this.to.length);
    this.to.push(v);
    this.cap.push(c);
    this.head[v]!.push(this.to.length);
    this.to.push(u);
    this.cap.push(0);
  }

  /** Pushes the maximum flow from s to t and returns its value. */
  maxFlow(s: number, t: number): number {
    const eps = this.eps();
    const level = new Int32Array(this.n);
    const it = new Int32Array(this.n);
    let total = 0;
    while (this.bfs(s, t, level, eps)) {
      it.fill(0);
      for (;;) {
        const f = this.augment(s, t, level, it, eps);
        if (f <= eps) break;
        total += f;
      }
    }
    return total;
  }

  /** After maxFlow: vertices reachable from s in the residual network (the source side of a min cut). */
  sourceSide(s: number): Uint8Array {
    const eps = this.eps();
    const seen = new Uint8Array(this.n);
    const stack = [s];
    seen[s] = 1;
    while (stack.length) {
      const u = stack.pop()!;
      for (const e of this.head[u]!) {
        const v = this.to[e]!;
        if (!seen[v] && this.cap[e]! > eps) {
          seen[v] = 1;
          stack.push(v);
        }
      }
    }
    return seen;
  }

  /** Residual capacities below this are treated as zero (float rounding). */
  private eps(): number {
    return Math.max(this.maxFinite * 1e-12, Number.MIN_VALUE);
  }

  private bfs(s: number, t: number, level: Int32Array, eps: number): boolean {
    level.fill(-1);
    level[s] = 0;
    const queue = [s];
    for (let qi = 0; qi < queue.length; qi++) {
      const u = queue[qi]!;
      for (const e of this.head[u]!) {
        const v = this.to[e]!;
        if (level[v] === -1 && this.cap[e]! > eps) {
          level[v] = level[u]! + 1;
          queue.push(v);
        }
      }
    }
    return level[t] !== -1;
  }

  /** One augmenting path along the level graph (iterative DFS); returns the flow pushed. */
  private augment(s: number, t: number, level: Int32Array, it: Int32Array, eps: number): number {
    const path: number[] = []; // edge ids from s
    let u = s;
    for (;;) {
      if (u === t) {
        let f = Infinity;
        for (const e of path) f = Math.min(f, this.cap[e]!);
        if (f === Infinity) throw new RangeError("an s-t path has only infinite capacities: the max flow is unbounded");
        for (const e of path) {
          this.cap[e] = this.cap[e]! - f;
          this.cap[e ^ 1] = this.cap[e ^ 1]! + f;
        }
        return f;
      }
      const edges = this.head[u]!;
      let advanced = false;
      while (it[u]! < edges.length) {
        const e = edges[it[u]!]!;
        const v = this.to[e]!;
        if (this.cap[e]! > eps && level[v] === level[u]! + 1) {
          path.push(e);
          u = v;
          advanced = true;
          break;
        }
        it[u]!++;
      }
      if (advanced) continue;
      // Dead end: retreat and skip the edge that led here.
      level[u] = -1;
      const back = path.pop();
      if (back === undefined) return 0;
      u = this.to[back ^ 1]!;
      it[u]!++;
    }
  }
}
