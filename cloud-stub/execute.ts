/**
 * Running a planned request: segments from..to-1 in order, each fed by name from the request's
 * tensors and the outputs of the segments before it (the manifest's segment `inputs`), exactly
 * as `verify` chains them. One session is held at a time, so a small memory budget still runs a
 * long range (sessions come and go through the pool).
 */
import * as path from "node:path";
import type { HostTensor, TensorMap } from "../sdk/runtime/tensor.js";
import type { Plan } from "./plan.js";
import type { SessionPool } from "./sessions.js";

/** What running a plan produced. */
export interface Execution {
  /** The wanted outputs. */
  outputs: TensorMap;
  /** Clock reading when the first segment started running (after its session was ready). */
  startedAt: number;
  /** Milliseconds spent inside onnxruntime runs (session loading excluded). */
  computeMs: number;
  /** Milliseconds spent loading sessions after the first segment started (reported as queueing: not compute, not the link). */
  laterLoadMs: number;
}

/** The key of segment `index` of a split in the session pool. */
export function sessionKey(splitId: string, index: number): string {
  return `${splitId}#${index}`;
}

/**
 * Runs the plan's segments on `tensors` and returns the wanted outputs. Errors of the pool or
 * onnxruntime propagate (E_RUNTIME and the model-file codes).
 */
export async function executePlan(plan: Plan, tensors: TensorMap, pool: SessionPool, now: () => number): Promise<Execution> {
  // A Map, not an object: tensor names are arbitrary text ("__proto__" included).
  const env = new Map<string, HostTensor>(Object.entries(tensors));
  let startedAt: number | undefined;
  let computeMs = 0;
  let laterLoadMs = 0;
  for (let i = plan.from; i < plan.to; i++) {
    const seg = plan.split.manifest.segments[i]!;
    const l0 = now();
    const lease = await pool.acquire(sessionKey(plan.split.splitId, i), path.join(plan.split.dir, seg.file));
    if (startedAt !== undefined) laterLoadMs += now() - l0;
    try {
      const feeds: TensorMap = {};
      for (const t of seg.inputs) Object.defineProperty(feeds, t.name, { value: env.get(t.name)!, enumerable: true, writable: true, configurable: true });
      const t0 = now();
      startedAt ??= t0;
      const out = await lease.session.run(feeds);
      computeMs += now() - t0;
      for (const [name, t] of Object.entries(out)) env.set(name, t);
    } finally {
      lease.release();
    }
  }
  startedAt ??= now(); // a probe runs no segment
  const outputs: TensorMap = {};
  for (const name of plan.want) Object.defineProperty(outputs, name, { value: env.get(name)!, enumerable: true, writable: true, configurable: true });
  return { outputs, startedAt: startedAt!, computeMs, laterLoadMs };
}
