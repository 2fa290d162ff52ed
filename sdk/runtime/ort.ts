/**
 * The only module that loads onnxruntime-node (its native binding). Everything else runs models
 * through OrtSession, so the inference backend stays swappable.
 *
 * The binding is loaded on the first session, not at import: an idle agent with no segment loaded
 * does not carry it (~13 MB of RSS), and on a machine where it cannot load (a 32-bit userland)
 * `edgecut doctor` and the graph commands still start and say what is wrong.
 */
import type * as Ort from "onnxruntime-node";
import { fail } from "../errors.js";

type OrtModule = typeof Ort;
let loading: Promise<OrtModule> | undefined;
let loaded: OrtModule | undefined;

/** Loads onnxruntime-node once; E_RUNTIME naming the platform when its binding cannot load. */
export function loadOrt(): Promise<OrtModule> {
  loading ??= import("onnxruntime-node").then((m) => {
    loaded = m;
    return m;
  }, (e: unknown) => {
    loading = undefined;
    throw fail("E_RUNTIME", `onnxruntime-node cannot load on ${process.platform}/${process.arch}: ${(e as Error).message} (it ships linux x64 and arm64 binaries; on a Raspberry Pi use a 64-bit OS)`, e);
  });
  return loading;
}

function ortNow(): OrtModule {
  if (loaded === undefined) throw fail("E_INTERNAL", "onnxruntime-node used before loadOrt()");
  return loaded;
}
import type { HostTensor, TensorMap } from "./tensor.js";

/** Session settings that matter for edgecut. */
export interface OrtSessionOptions {
  /** Threads for one operator (default: onnxruntime's choice, all cores). */
  intraOpThreads?: number;
  /**
   * Let idle intra-op threads spin after a run (onnxruntime's default). Off by default here:
   * chained segment sessions run back to back, and a spinning session steals the cores from
   * the next one (measured 1.30x vs 1.01x on a 2-core machine).
   */
  allowSpinning?: boolean;
  /** Graph optimization level (default "all"). */
  optimization?: "disabled" | "basic" | "extended" | "all";
}

/** One loaded model, ready to run. */
export class OrtSession {
  private constructor(private readonly session: Ort.InferenceSession, readonly path: string) {}

  /** Loads a model file; external data must sit in the model's folder. */
  static async create(path: string, opts: OrtSessionOptions = {}): Promise<OrtSession> {
    const ort = await loadOrt();
    const options: Ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: opts.optimization ?? "all",
      extra: { session: { intra_op: { allow_spinning: opts.allowSpinning ? "1" : "0" } } },
    };
    if (opts.intraOpThreads !== undefined) options.intraOpNumThreads = opts.intraOpThreads;
    try {
      return new OrtSession(await ort.InferenceSession.create(path, options), path);
    } catch (e) {
      throw fail("E_RUNTIME", `onnxruntime could not load ${path}: ${(e as Error).message}`, e);
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the model; `fetch` names the outputs wanted (default: all). */
  async run(feeds: TensorMap, fetch?: readonly string[]): Promise<TensorMap> {
    const inputs: Record<string, Ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = toOrt(t);
    const missing = fetch?.filter((n) => !this.session.outputNames.includes(n)) ?? [];
    if (missing.length) throw fail("E_RUNTIME", `${this.path} has no output named ${missing.map((n) => `"${n}"`).join(", ")}`);
    let result: Ort.InferenceSession.OnnxValueMapType;
    try {
      // Always run every output: onnxruntime-node 1.23 puts the tensors under the wrong names when
      // `fetches` is a strict subset or reordered (microsoft/onnxruntime#26865, fixed after 1.23).
      result = await this.session.run(inputs);
    } catch (e) {
      throw fail("E_RUNTIME", `onnxruntime failed running ${this.path}: ${(e as Error).message}`, e);
    }
    const out: TensorMap = {};
    for (const name of fetch ?? Object.keys(result)) out[name] = fromOrt(name, result[name] as Ort.Tensor);
    return out;
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

function toOrt(t: HostTensor): Ort.Tensor {
  return new (ortNow().Tensor)(t.type, t.data, t.dims);
}

function fromOrt(name: string, v: Ort.Tensor): HostTensor {
  const dims = [...v.dims];
  switch (v.type) {
    case "float32": case "float64": case "float16": case "int8": case "uint8": case "int16": case "uint16":
    case "int32": case "uint32": case "int64": case "uint64": case "bool": case "string":
      return { type: v.type, dims, data: v.data } as HostTensor;
    default:
      throw fail("E_UNSUPPORTED", `output ${name} has type ${v.type}, which edgecut cannot handle yet`);
  }
}
