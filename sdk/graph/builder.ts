/**
 * A small builder for ONNX models, used by the generated test models (`edgecut model ...`) and
 * by tests that need hand-made graphs. It produces plain ModelProto messages.
 */
import { create } from "@bufbuild/protobuf";
import {
  AttributeProtoSchema, AttributeProto_AttributeType as AT, GraphProtoSchema, ModelProtoSchema, NodeProtoSchema,
  OperatorSetIdProtoSchema, TensorProtoSchema, TensorShapeProtoSchema, TensorShapeProto_DimensionSchema,
  TypeProtoSchema, TypeProto_TensorSchema, ValueInfoProtoSchema,
  type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto,
  type FunctionProto,
} from "./onnx/onnx_pb.js";
import { dtypeCode, type DTypeName } from "./dtypes.js";
import type { Dim } from "./shape-types.js";
import { fail } from "../errors.js";

export type { Dim } from "./shape-types.js";

/** Marks a number as a FLOAT attribute (plain numbers that are integers become INT). */
export class FloatAttr {
  constructor(readonly value: number) {}
}
/** Marks a number list as a FLOATS attribute. */
export class FloatsAttr {
  constructor(readonly value: readonly number[]) {}
}
/** FLOAT attribute. */
export const float = (v: number): FloatAttr => new FloatAttr(v);
/** FLOATS attribute. */
export const floats = (v: readonly number[]): FloatsAttr => new FloatsAttr(v);

/** Attribute values the builder understands. */
export type AttrValue = number | bigint | string | readonly number[] | readonly string[] | FloatAttr | FloatsAttr | TensorProto | GraphProto;

/** Data for an initializer or constant. */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Int8Array | Uint8Array | Uint16Array | Int16Array;

/** Builds a TensorProto holding `data` as raw little-endian bytes. */
export function makeTensor(name: string, type: DTypeName, dims: readonly number[], data: TensorData): TensorProto {
  const code = dtypeCode(type);
  if (code === undefined) throw fail("E_USAGE", `unknown tensor type ${type}`);
  const n = dims.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw fail("E_USAGE", `tensor ${name}: ${data.length} values for dims [${dims.join(",")}]`);
  return create(TensorProtoSchema, {
    name, dataType: code, dims: dims.map((d) => BigInt(d)),
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

/** A ValueInfoProto for a tensor of the given type and dims. */
export function makeValueInfo(name: string, type: DTypeName, dims: readonly Dim[] | null): ValueInfoProto {
  const code = dtypeCode(type);
  if (code === undefined) throw fail("E_USAGE", `unknown tensor type ${type}`);
  const shape = dims === null ? undefined : create(TensorShapeProtoSchema, {
    dim: dims.map((d) => create(TensorShapeProto_DimensionSchema, {
      value: typeof d === "number" ? { case: "dimValue", value: BigInt(d) } : typeof d === "string" ? { case: "dimParam", value: d } : { case: undefined },
    })),
  });
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: "tensorType", value: create(TypeProto_TensorSchema, { elemType: code, shape }) } }),
  });
}

/** Builds one attribute from a JS value (integers -> INT, use float() for FLOAT). */
export function makeAttribute(name: string, v: AttrValue): AttributeProto {
  const a = create(AttributeProtoSchema, { name });
  if (v instanceof FloatAttr) { a.type = AT.FLOAT; a.f = v.value; }
  else if (v instanceof FloatsAttr) { a.type = AT.FLOATS; a.floats = [...v.value]; }
  else if (typeof v === "number") {
    if (Number.isInteger(v)) { a.type = AT.INT; a.i = BigInt(v); } else { a.type = AT.FLOAT; a.f = v; }
  } else if (typeof v === "bigint") { a.type = AT.INT; a.i = v; }
  else if (typeof v === "string") { a.type = AT.STRING; a.s = new TextEncoder().encode(v); }
  else if (Array.isArray(v)) {
    if (v.every((x) => typeof x === "string")) { a.type = AT.STRINGS; a.strings = (v as string[]).map((s) => new TextEncoder().encode(s)); }
    else if (v.every((x) => Number.isInteger(x))) { a.type = AT.INTS; a.ints = (v as number[]).map((x) => BigInt(x)); }
    else { a.type = AT.FLOATS; a.floats = [...(v as number[])]; }
  } else if ((v as TensorProto).$typeName === "onnx.TensorProto") { a.type = AT.TENSOR; a.t = v as TensorProto; }
  else if ((v as GraphProto).$typeName === "onnx.GraphProto") { a.type = AT.GRAPH; a.g = v as GraphProto; }
  else throw fail("E_USAGE", `attribute ${name}: unsupported value`);
  return a;
}

/** Options for GraphBuilder. */
export interface BuilderOptions {
  /** Default-domain opset (default 17). */
  opset?: number;
  /** Extra opset imports, e.g. { "com.microsoft": 1 }. */
  opsets?: Record<string, number>;
  /** Graph name. */
  name?: string;
  /** IR version (default 8, what opset 17 needs; onnxruntime 1.23 reads up to 11). */
  irVersion?: number;
}

/** Accumulates nodes, inputs, outputs and initializers; `build()` returns the ModelProto. */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly valueInfo: ValueInfoProto[] = [];
  readonly functions: FunctionProto[] = [];
  private readonly used = new Map<string, number>();
  constructor(readonly opts: BuilderOptions = {}) {}

  /** A fresh tensor/node name with the given prefix. */
  fresh(prefix: string): string {
    const n = this.used.get(prefix) ?? 0;
    this.used.set(prefix, n + 1);
    return n === 0 ? prefix : `${prefix}_${n}`;
  }

  /** Declares a model input and returns its name. */
  input(name: string, type: DTypeName, dims: readonly Dim[]): string {
    this.inputs.push(makeValueInfo(name, type, dims));
    return name;
  }

  /** Declares a model output (an existing tensor). */
  output(name: string, type: DTypeName, dims: readonly Dim[] | null): string {
    this.outputs.push(makeValueInfo(name, type, dims));
    return name;
  }

  /** Adds a weight and returns its name. */
  initializer(name: string, type: DTypeName, dims: readonly number[], data: TensorData): string {
    this.initializers.push(makeTensor(name, type, dims, data));
    return name;
  }

  /**
   * Adds a node and returns its output names. `outputs` is a count (names are made up from
   * the op type) or explicit names ("" for an omitted optional output).
   */
  node(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, outputs: number | readonly string[] = 1, opts: { name?: string; domain?: string } = {}): string[] {
    const outs = typeof outputs === "number" ? Array.from({ length: outputs }, () => this.fresh(`${opType.toLowerCase()}_out`)) : [...outputs];
    this.nodes.push(create(NodeProtoSchema, {
      opType, input: [...inputs], output: outs, name: opts.name ?? this.fresh(opType), domain: opts.domain ?? "",
      attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
    }));
    return outs;
  }

  /** Adds a node with one output and returns its name. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, opts: { name?: string; domain?: string; output?: string } = {}): string {
    return this.node(opType, inputs, attrs, opts.output ? [opts.output] : 1, opts)[0]!;
  }

  /** A Constant node holding an int64 vector (or scalar when `scalar`). */
  constInt64(values: readonly number[], scalar = false): string {
    const t = makeTensor("", "int64", scalar ? [] : [values.length], BigInt64Array.from(values.map((v) => BigInt(v))));
    return this.op("Constant", [], { value: t });
  }

  /** A Constant node holding a float32 tensor. */
  constFloat(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.op("Constant", [], { value: makeTensor("", "float32", dims, Float32Array.from(values)) });
  }

  /** The GraphProto (for use as a subgraph, or in build()). */
  graph(): GraphProto {
    return create(GraphProtoSchema, {
      name: this.opts.name ?? "edgecut", node: this.nodes, input: this.inputs, output: this.outputs,
      initializer: this.initializers, valueInfo: this.valueInfo,
    });
  }

  /** The finished model. */
  build(): ModelProto {
    const opsetImport = [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(this.opts.opset ?? 17) })];
    for (const [domain, version] of Object.entries(this.opts.opsets ?? {})) opsetImport.push(create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) }));
    return create(ModelProtoSchema, {
      irVersion: BigInt(this.opts.irVersion ?? 8), producerName: "edgecut", producerVersion: "0.1.0",
      opsetImport, graph: this.graph(), functions: this.functions,
    });
  }
}
