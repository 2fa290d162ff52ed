/**
 * What an op's shape rule sees (OpCtx), attribute readers, and decoding of small constant
 * tensors into values.
 */
import type { AttributeProto, GraphProto, NodeProto, TensorProto } from "./onnx/onnx_pb.js";
import { DT } from "./dtypes.js";
import { tensorNumel, tensorRawBytes } from "./model-io.js";
import type { Dim, TensorType } from "./shape-types.js";

/** Largest tensor (in elements) whose values inference tracks. */
export const VALUE_LIMIT = 256;

/** The view of one node a shape rule works from. Input/output indices are positions in the proto. */
export interface OpCtx {
  readonly node: NodeProto;
  readonly opType: string;
  /** "" for ai.onnx. */
  readonly domain: string;
  /** Opset version of the node's domain. */
  readonly opset: number;
  /** Number of outputs the node declares (with omitted optional ones). */
  readonly nOut: number;
  /** True when input i is given (not omitted). */
  has(i: number): boolean;
  /** Type of input i, when known. */
  in(i: number): TensorType | undefined;
  /** Dims of input i (null when the input or its rank is unknown). */
  dims(i: number): Dim[] | null;
  /** Element type of input i, 0 when unknown. */
  elem(i: number): number;
  /** Known values of input i (flattened). */
  val(i: number): Dim[] | undefined;
  /** Known values of input i when all of them are numbers. */
  nums(i: number): number[] | undefined;
  /** Records the values of output i. */
  setVal(i: number, v: Dim[]): void;
  /** Decodes a small constant tensor's values. */
  tensorValues(t: TensorProto): Dim[] | undefined;
  /** Infers a subgraph given types (and values) for its inputs; returns its output types. */
  inferBody(g: GraphProto, inputs: readonly (TensorType | undefined)[]): (TensorType | undefined)[];
}

/** What a rule returns: one type per output position (or a single type for one output). */
export type RuleResult = (TensorType | undefined)[] | TensorType | undefined;

/** A shape rule for one op. */
export type OpRule = (c: OpCtx) => RuleResult;

/** The attribute named `name`, if set. */
export function attr(n: NodeProto, name: string): AttributeProto | undefined {
  return n.attribute.find((a) => a.name === name);
}

/** INT attribute. */
export function attrInt(n: NodeProto, name: string): number | undefined;
export function attrInt(n: NodeProto, name: string, def: number): number;
export function attrInt(n: NodeProto, name: string, def?: number): number | undefined {
  const a = attr(n, name);
  return a ? Number(a.i) : def;
}

/** INTS attribute. */
export function attrInts(n: NodeProto, name: string): number[] | undefined {
  const a = attr(n, name);
  return a ? a.ints.map((v) => Number(v)) : undefined;
}

/** FLOATS attribute. */
export function attrFloats(n: NodeProto, name: string): number[] | undefined {
  return attr(n, name)?.floats;
}

/** STRING attribute. */
export function attrStr(n: NodeProto, name: string, def: string): string {
  const a = attr(n, name);
  return a ? new TextDecoder().decode(a.s) : def;
}

/** GRAPH attribute. */
export function attrGraph(n: NodeProto, name: string): GraphProto | undefined {
  return attr(n, name)?.g;
}

/** Integer element types (values tracked and published). */
export function isIntType(e: number): boolean {
  return [DT.INT8, DT.UINT8, DT.INT16, DT.UINT16, DT.INT32, DT.UINT32, DT.INT64, DT.UINT64, DT.BOOL].includes(e);
}

/**
 * Values of a small integer, bool or float32/64 tensor (floats are kept internally for shape
 * math such as Resize scales), or undefined.
 */
export function decodeValues(t: TensorProto, dir: string): Dim[] | undefined {
  try {
    const n = tensorNumel(t);
    if (n > VALUE_LIMIT) return undefined;
    const raw = tensorRawBytes(t, dir);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const read = (size: number, get: (off: number) => number): Dim[] | undefined => {
      if (raw.byteLength < n * size) return undefined;
      const out: Dim[] = [];
      for (let i = 0; i < n; i++) out.push(get(i * size));
      return out.every((v) => Number.isFinite(v)) ? out : undefined;
    };
    switch (t.dataType) {
      case DT.INT64: return read(8, (o) => Number(dv.getBigInt64(o, true)));
      case DT.UINT64: return read(8, (o) => Number(dv.getBigUint64(o, true)));
      case DT.INT32: return read(4, (o) => dv.getInt32(o, true));
      case DT.UINT32: return read(4, (o) => dv.getUint32(o, true));
      case DT.INT16: return read(2, (o) => dv.getInt16(o, true));
      case DT.UINT16: return read(2, (o) => dv.getUint16(o, true));
      case DT.INT8: return read(1, (o) => dv.getInt8(o));
      case DT.UINT8: case DT.BOOL: return read(1, (o) => dv.getUint8(o));
      case DT.FLOAT: return read(4, (o) => dv.getFloat32(o, true));
      case DT.DOUBLE: return read(8, (o) => dv.getFloat64(o, true));
      default: return undefined;
    }
  } catch {
    return undefined;
  }
}
