/**
 * The device's side of one generation session on a worker (docs/wire-format.md §9). The first
 * chunk (the prompt) opens the session through the shared subscription, so any worker of the
 * group takes it; its reply names the worker, and every later step goes to that worker's own
 * topic as a compact step frame, sending each tensor whole or, when it only grew along one axis
 * (an attention mask), just the new slice.
 *
 * The device keeps every chunk it sent (one token's hidden state per step, as PETALS does). When
 * the worker has lost the session (E_SESSION_LOST: restarted, evicted, expired; E_SESSION_STEP)
 * or stops answering (E_TIMEOUT after the retries), the session is rebuilt on whichever worker
 * takes the replay: every chunk is run again in order, exactly as the steps ran, so the cache
 * and the tokens come out the same.
 */
import { randomBytes } from "node:crypto";
import { EdgecutError, fail } from "../errors.js";
import type { Manifest } from "../graph/manifest.js";
import type { OffloadClient } from "../offload/client.js";
import type { OffloadResult } from "../offload/types.js";
import type { HostTensor, TensorMap } from "../runtime/tensor.js";
import type { StepTensor } from "../wire/step.js";
import type { WireSampling, WireType } from "../wire/types.js";
import { isStateInput } from "./state.js";
import { appendedSlice } from "./tensors.js";

/** Codes after which the session is rebuilt on another (or the same) worker. */
const REBUILD_CODES: ReadonlySet<string> = new Set(["E_SESSION_LOST", "E_SESSION_STEP", "E_TIMEOUT"]);

/** What one exchange with the worker returned. */
export interface RemoteResult {
  /** The exchange: the session's opening, one decode step, or a rebuild (a replay of every chunk). */
  kind: "open" | "step" | "rebuild";
  /** The token the worker sampled, when it samples. */
  generated: { token: number; logprob: number } | undefined;
  /** The tensors at the end of the worker's range (U-shaped split), by name. */
  outputs: TensorMap;
  result: OffloadResult;
}

/** Options of a RemoteSession. */
export interface RemoteSessionOptions {
  client: OffloadClient;
  manifest: Manifest;
  splitId: string;
  /** The worker runs segments from..to-1. */
  from: number;
  to: number;
  sampling: WireSampling;
  timeoutMs?: number;
  retries?: number;
  /** Called when the session is rebuilt (for counters and logs). */
  onRebuild?: (reason: EdgecutError) => void;
}

/**
 * Names of the tensors segments from..to-1 read that none of them makes, cache inputs excluded:
 * what the device sends per chunk.
 */
export function rangeInputs(m: Manifest, from: number, to: number): string[] {
  const made = new Set<string>();
  const need = new Set<string>();
  for (let i = from; i < to; i++) {
    for (const t of m.segments[i]!.inputs) if (!made.has(t.name) && !isStateInput(m, t.name)) need.add(t.name);
    for (const t of m.segments[i]!.outputs) made.add(t.name);
  }
  return [...need].sort();
}

/** One session on a worker (see the module comment). */
export class RemoteSession {
  readonly sessionId = randomBytes(8).toString("hex");
  /** Tensors sent per chunk, in slot order. */
  readonly slots: readonly string[];
  private readonly slotTypes: WireType[];
  private readonly replySlots: { name: string; type: WireType }[];
  private readonly sample: boolean;
  private readonly history: Map<string, HostTensor>[] = [];
  private workerId: string | undefined;
  /** Times the session was rebuilt. */
  rebuilds = 0;

  constructor(private readonly o: RemoteSessionOptions) {
    const m = o.manifest;
    this.slots = rangeInputs(m, o.from, o.to);
    const typeOf = (name: string): WireType => {
      const t = [...m.model.inputs, ...m.segments.flatMap((s) => s.outputs)].find((x) => x.name === name)?.type;
      if (t === undefined || t === "string") throw fail("E_NOT_GENERATIVE", `tensor ${JSON.stringify(name)} cannot travel in a session (type ${t ?? "unknown"})`);
      return t as WireType;
    };
    this.slotTypes = this.slots.map(typeOf);
    this.sample = o.to === m.segments.length;
    this.replySlots = this.sample ? [] : m.cuts[o.to - 1]!.tensors.map((t) => ({ name: t.name, type: t.type as WireType }));
  }

  /** The worker holding the session now (after the first chunk). */
  get worker(): string | undefined {
    return this.workerId;
  }

  /**
   * Sends chunk `step` (0: the prompt) with the tensors its range needs (`available` may hold
   * more) and returns the worker's answer, rebuilding the session when the worker lost it.
   */
  async send(step: number, available: ReadonlyMap<string, HostTensor>): Promise<RemoteResult> {
    if (step !== this.history.length) throw fail("E_INTERNAL", `session ${this.sessionId}: chunk ${step} sent after ${this.history.length} chunks`);
    const chunk = new Map<string, HostTensor>();
    for (const name of this.slots) {
      const t = available.get(name);
      if (t === undefined) throw fail("E_INTERNAL", `the device's segments did not make ${JSON.stringify(name)}, which the worker's range needs`);
      chunk.set(name, t);
    }
    const previous = this.history[this.history.length - 1];
    this.history.push(chunk);
    if (step === 0 || this.workerId === undefined) return this.open(step, "open");
    const tensors: StepTensor[] = this.slots.map((name, slot) => {
      const t = chunk.get(name)!;
      const grown = appendedSlice(previous?.get(name), t);
      return grown === undefined ? { slot, mode: "full", axis: 0, tensor: t } : { slot, mode: "append", axis: grown.axis, tensor: grown.slice };
    });
    try {
      const result = await this.o.client.step(this.o.splitId, { sessionId: this.sessionId, step, tensors }, {
        workerId: this.workerId, slotTypes: this.slotTypes, replySlots: this.replySlots, ...this.timing(),
      });
      return { kind: "step", generated: result.generated, outputs: result.outputs, result };
    } catch (e) {
      if (!(e instanceof EdgecutError) || !REBUILD_CODES.has(e.code)) throw e;
      this.rebuilds++;
      this.o.onRebuild?.(e);
      return this.open(step, "rebuild");
    }
  }

  /** Opens the session with chunk 0, or rebuilds it with every chunk so far. */
  private async open(step: number, op: "open" | "rebuild"): Promise<RemoteResult> {
    const tensors: TensorMap = {};
    if (op === "open") for (const [name, t] of this.history[0]!) tensors[name] = t;
    else this.history.forEach((chunk, i) => { for (const [name, t] of chunk) tensors[`${i}/${name}`] = t; });
    const result = await this.o.client.request(this.o.splitId, { from: this.o.from, to: this.o.to }, tensors, {
      session: { sessionId: this.sessionId, step, open: { op, sample: this.sample, sampling: this.o.sampling, chunks: op === "open" ? 1 : this.history.length } },
      encoding: "fp32", ...this.timing(),
    });
    if (result.workerId === undefined) throw fail("E_PROTOCOL_VERSION", "the worker answered a session request without its workerId: it predates generation sessions; upgrade it");
    this.workerId = result.workerId;
    return { kind: op, generated: result.generated, outputs: result.outputs, result };
  }

  private timing(): { timeoutMs?: number; retries?: number } {
    return { ...(this.o.timeoutMs === undefined ? {} : { timeoutMs: this.o.timeoutMs }), ...(this.o.retries === undefined ? {} : { retries: this.o.retries }) };
  }
}
