/**
 * A GraphBuilder wrapper that names things the way torch.onnx.export does (`/h.0/attn/MatMul`,
 * output `/h.0/attn/MatMul_output_0`), emits per-use Constant nodes, and stores weights either
 * as float32 initializers or in the QDQ form weight-only quantizers emit (int8 + scale + zero
 * point -> DequantizeLinear).
 */
import { GraphBuilder, makeTensor, type AttrValue } from "../builder.js";
import { WeightRng } from "./rng.js";

/** Smallest float32: what torch uses for "masked out" (finite, so fully masked rows stay NaN-free). */
export const FLOAT32_MIN = -3.4028234663852886e38;

/** Builds one model with scoped names and seeded weights. */
export class ModelWriter {
  readonly b: GraphBuilder;
  readonly rng: WeightRng;
  private scope = "";

  constructor(name: string, seed: number, readonly int8Weights: boolean, opset = 17) {
    this.b = new GraphBuilder({ name, opset });
    this.rng = new WeightRng(seed);
  }

  /** Runs `fn` with node names prefixed by `/name` (nested scopes join: `/h.0/attn`). */
  scoped<T>(name: string, fn: () => T): T {
    const prev = this.scope;
    this.scope = `${prev}/${name}`;
    try {
      return fn();
    } finally {
      this.scope = prev;
    }
  }

  /** Adds a node with `n` outputs named `<node>_output_<i>`; `names` overrides output names. */
  ops(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, n = 1, names?: readonly string[]): string[] {
    const node = this.b.fresh(`${this.scope}/${opType}`);
    const outs = names ? [...names] : Array.from({ length: n }, (_, i) => `${node}_output_${i}`);
    return this.b.node(opType, inputs, attrs, outs, { name: node });
  }

  /** Adds a node with one output (named `output` if given). */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    return this.ops(opType, inputs, attrs, 1, output === undefined ? undefined : [output])[0]!;
  }

  /** A Constant node holding int64 values (a 0-d scalar when `scalar`). */
  i64(values: readonly number[], scalar = false): string {
    const t = makeTensor("", "int64", scalar ? [] : [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
    return this.op("Constant", [], { value: t });
  }

  /** A Constant node holding one float32 scalar. */
  f32(value: number): string {
    return this.op("Constant", [], { value: makeTensor("", "float32", [], Float32Array.of(value)) });
  }

  /** Unsqueeze with the axes given as a Constant input (opset 13+). */
  unsqueeze(x: string, axes: readonly number[]): string {
    return this.op("Unsqueeze", [x, this.i64(axes)]);
  }

  /** Gather of one element of a 1-D shape tensor: a 0-d int64 scalar, as torch emits `x.size(i)`. */
  dim(shape: string, index: number): string {
    return this.op("Gather", [shape, this.i64([index], true)], { axis: 0 });
  }

  /** A float32 initializer drawn from N(mean, std) under `name`. */
  param(name: string, dims: readonly number[], std: number, mean = 0): string {
    const n = dims.reduce((a, c) => a * c, 1);
    return this.b.initializer(name, "float32", dims, this.rng.normal(name, n, std, mean));
  }

  /**
   * A matrix weight consumed by MatMul/Gemm/Conv. Float: an initializer named `name`. With
   * int8 weights: per-axis symmetric int8 (`name_quantized`, `name_scale`, `name_zero_point`)
   * feeding a DequantizeLinear whose output the consumer reads. `axis` is the output-channel axis.
   */
  weight(name: string, dims: readonly number[], std: number, axis: number): string {
    const n = dims.reduce((a, c) => a * c, 1);
    const data = this.rng.normal(name, n, std);
    if (!this.int8Weights) return this.b.initializer(name, "float32", dims, data);
    const { q, scale } = quantizePerAxis(data, dims, axis);
    const qName = this.b.initializer(`${name}_quantized`, "int8", dims, q);
    const sName = this.b.initializer(`${name}_scale`, "float32", [scale.length], scale);
    const zName = this.b.initializer(`${name}_zero_point`, "int8", [scale.length], new Int8Array(scale.length));
    return this.b.node("DequantizeLinear", [qName, sName, zName], { axis }, [`${name}_DequantizeLinear_Output`], { name: `${name}_DequantizeLinear` })[0]!;
  }
}

/**
 * Symmetric per-axis int8 quantization: scale_c = max|w_c| / 127, q = round(w / scale_c) in
 * [-127, 127], zero point 0. Returns the int8 data and one scale per slice along `axis`.
 */
export function quantizePerAxis(data: Float32Array, dims: readonly number[], axis: number): { q: Int8Array; scale: Float32Array } {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, c) => a * c, 1);
  const chan = (i: number): number => Math.floor(i / inner) % channels;
  const maxAbs = new Float32Array(channels);
  for (let i = 0; i < data.length; i++) {
    const c = chan(i);
    const v = Math.abs(data[i]!);
    if (v > maxAbs[c]!) maxAbs[c] = v;
  }
  const scale = new Float32Array(channels);
  for (let c = 0; c < channels; c++) scale[c] = maxAbs[c]! > 0 ? maxAbs[c]! / 127 : 1;
  const q = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(data[i]! / scale[chan(i)]!)));
  return { q, scale };
}
