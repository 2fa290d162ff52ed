/**
 * Reading and writing ONNX ModelProto files, with external data kept as file ranges.
 *
 * Weight bytes are never copied on read: embedded `raw_data` fields are views into the file's
 * buffer (protobuf-es decodes `bytes` as subarrays), and external data stays in its file until
 * a writer streams the range it needs. Node caps a Buffer at 2 GiB, so a whole `.data` file is
 * never read into memory.
 */
import { createHash, type Hash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ModelProtoSchema, TensorProtoSchema, StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  type ModelProto, type TensorProto, type GraphProto, type NodeProto, type SparseTensorProto, type AttributeProto,
} from "./onnx/onnx_pb.js";
import { byteLength, dtypeName } from "./dtypes.js";
import { fail } from "../errors.js";

/** Largest .onnx protobuf file we read in one piece (protobuf itself caps messages at 2 GiB). */
const MAX_PROTO_BYTES = 2 ** 31 - 1;

/** A parsed model and where it came from (external data paths resolve against `dir`). */
export interface LoadedModel {
  proto: ModelProto;
  /** Absolute path of the .onnx file. */
  path: string;
  /** Folder of the .onnx file: external data locations are relative to it. */
  dir: string;
  /** Size of the .onnx file in bytes (weights in external files not included). */
  fileBytes: number;
}

/** Parses ONNX bytes; `where` names the source in error messages. */
export function parseModelBytes(bytes: Uint8Array, where: string): ModelProto {
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, bytes, { readUnknownFields: true });
  } catch (e) {
    throw fail("E_MODEL_PARSE", `${where} is not a valid ONNX model (${(e as Error).message}); check that the file is complete and really ONNX`, e);
  }
  if (!proto.graph) {
    throw fail("E_MODEL_PARSE", `${where} has no graph: it is not an ONNX model, or it is truncated`);
  }
  if (proto.opsetImport.length === 0) {
    throw fail("E_MODEL_INVALID", `${where} declares no opset_import; re-export the model with an opset`);
  }
  return proto;
}

/** Reads and parses a .onnx file. Throws E_MODEL_READ / E_MODEL_PARSE with the path in the message. */
export function loadModel(file: string): LoadedModel {
  const abs = path.resolve(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    throw fail("E_MODEL_READ", `cannot read model ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
  }
  if (!st.isFile()) throw fail("E_MODEL_READ", `${file} is not a file`);
  if (st.size > MAX_PROTO_BYTES) {
    throw fail("E_MODEL_READ", `${file} is ${st.size} bytes; a protobuf file over 2 GiB is invalid: store the weights as external data`);
  }
  const bytes = fs.readFileSync(abs);
  return { proto: parseModelBytes(bytes, file), path: abs, dir: path.dirname(abs), fileBytes: st.size };
}

/** Number of elements a tensor declares (product of dims; 1 for a scalar). */
export function tensorNumel(t: TensorProto): number {
  let n = 1;
  for (const d of t.dims) {
    if (d < 0n) throw fail("E_TENSOR_DATA", `tensor ${t.name || "(unnamed)"} has a negative dim ${d}`);
    n *= Number(d);
  }
  if (!Number.isSafeInteger(n)) {
    throw fail("E_TENSOR_DATA", `tensor ${t.name || "(unnamed)"} declares dims [${t.dims.join(", ")}], more elements than any tensor can hold: the file is corrupt`);
  }
  return n;
}

/** Bytes the tensor's data occupies in raw form, or undefined for string tensors. */
export function tensorByteSize(t: TensorProto): number | undefined {
  return byteLength(t.dataType, tensorNumel(t));
}

/**
 * Stored size of a weight: a dense tensor's data (a string tensor's string bytes), or a sparse
 * tensor's values plus indices. Throws E_TENSOR_DATA for impossible dims, as tensorNumel does.
 */
export function weightByteSize(t: TensorProto | SparseTensorProto): number {
  const dense = (x: TensorProto | undefined): number => (x ? tensorByteSize(x) ?? x.stringData.reduce((a, b) => a + b.length, 0) : 0);
  return t.$typeName === "onnx.SparseTensorProto" ? dense(t.values) + dense(t.indices) : dense(t);
}

/** weightByteSize of the initializer (dense or sparse) called `name`; 0 when there is none. */
export function initializerBytes(
  g: { readonly initializers: ReadonlyMap<string, TensorProto>; readonly sparseInitializers: ReadonlyMap<string, SparseTensorProto> },
  name: string,
): number {
  const t = g.initializers.get(name) ?? g.sparseInitializers.get(name);
  return t ? weightByteSize(t) : 0;
}

/** Where an external tensor's bytes live. */
export interface ExternalRef {
  /** `location` as written in the model (relative to the model folder). */
  location: string;
  /** Absolute path of the data file. */
  path: string;
  offset: number;
  length: number;
}

function entry(t: TensorProto, key: string): string | undefined {
  return t.externalData.find((e) => e.key === key)?.value;
}

/**
 * The file range holding an external tensor's bytes, or null for an embedded tensor.
 * Checks the location stays inside the model folder and that the range is within the file.
 */
export function externalRef(t: TensorProto, modelDir: string): ExternalRef | null {
  if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) return null;
  const name = t.name || "(unnamed)";
  const location = entry(t, "location");
  if (!location) throw fail("E_EXTERNAL_DATA", `tensor ${name} is marked external but has no location`);
  if (path.isAbsolute(location) || location.split(/[\\/]/).includes("..")) {
    throw fail("E_EXTERNAL_DATA", `tensor ${name}: external data location "${location}" must be a relative path inside the model's folder`);
  }
  const abs = path.resolve(modelDir, location);
  let size: number;
  try {
    size = fs.statSync(abs).size;
  } catch {
    throw fail("E_EXTERNAL_DATA", `tensor ${name}: external data file ${abs} is missing; copy it next to the model`);
  }
  const offset = Number(entry(t, "offset") ?? "0");
  const declared = entry(t, "length");
  const expected = tensorByteSize(t);
  const length = declared !== undefined ? Number(declared) : expected;
  if (!Number.isSafeInteger(offset) || offset < 0 || length === undefined || !Number.isSafeInteger(length) || length < 0) {
    throw fail("E_EXTERNAL_DATA", `tensor ${name}: bad external offset/length (${entry(t, "offset")}, ${declared})`);
  }
  if (expected !== undefined && length !== expected) {
    throw fail("E_EXTERNAL_DATA", `tensor ${name}: external length ${length} does not match its type and dims (${expected} bytes)`);
  }
  if (offset + length > size) {
    throw fail("E_EXTERNAL_DATA", `tensor ${name}: range ${offset}+${length} runs past the end of ${location} (${size} bytes); the data file is truncated`);
  }
  return { location, path: abs, offset, length };
}

/** Reads a byte range of a file (for small tensors; large ones are streamed by ExternalDataWriter). */
export function readRange(file: string, offset: number, length: number): Uint8Array {
  const buf = Buffer.allocUnsafe(length);
  const fd = fs.openSync(file, "r");
  try {
    let done = 0;
    while (done < length) {
      // One read call is capped well under 2 GiB: Node rejects larger lengths.
      const n = fs.readSync(fd, buf, done, Math.min(length - done, 1 << 30), offset + done);
      if (n === 0) throw fail("E_EXTERNAL_DATA", `${file} ended early at ${offset + done}`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

/**
 * The tensor's data as raw little-endian bytes, read from wherever it lives
 * (raw_data, external file, or the typed repeated fields). Use for small tensors only.
 */
export function tensorRawBytes(t: TensorProto, modelDir: string): Uint8Array {
  const ext = externalRef(t, modelDir);
  if (ext) return readRange(ext.path, ext.offset, ext.length);
  if (t.rawData.length > 0 || tensorNumel(t) === 0) return t.rawData;
  return typedFieldsToRaw(t);
}

function typedFieldsToRaw(t: TensorProto): Uint8Array {
  const n = tensorNumel(t);
  const name = dtypeName(t.dataType);
  const out = (arr: ArrayLike<number> | ArrayLike<bigint>, Ctor: { new(n: number): { set(a: ArrayLike<number | bigint>): void; buffer: ArrayBufferLike } }): Uint8Array => {
    if (arr.length !== n) throw fail("E_TENSOR_DATA", `tensor ${t.name}: ${arr.length} values for ${n} elements`);
    const ta = new Ctor(n);
    ta.set(arr as ArrayLike<number | bigint>);
    return new Uint8Array(ta.buffer);
  };
  switch (name) {
    case "float32": return out(t.floatData, Float32Array as never);
    case "float64": return out(t.doubleData, Float64Array as never);
    case "int64": return out(t.int64Data, BigInt64Array as never);
    case "uint64": return out(t.uint64Data, BigUint64Array as never);
    case "uint32": return out(t.uint64Data.map((v) => Number(v)), Uint32Array as never);
    case "int32": return out(t.int32Data, Int32Array as never);
    case "int16": return out(t.int32Data, Int16Array as never);
    case "uint16": case "float16": case "bfloat16": return out(t.int32Data, Uint16Array as never);
    case "int8": return out(t.int32Data, Int8Array as never);
    case "uint8": case "bool": return out(t.int32Data, Uint8Array as never);
    default:
      throw fail("E_UNSUPPORTED", `tensor ${t.name}: reading ${name ?? `type ${t.dataType}`} values from typed fields is not supported`);
  }
}

/**
 * Appends tensors to one external data file at aligned offsets. Several segments of a split may
 * share one writer (one data file); a tensor written once (by object identity) is not written again.
 */
export class ExternalDataWriter {
  readonly path: string;
  readonly align: number;
  private fd: number;
  private size = 0;
  private readonly written = new WeakMap<TensorProto, { offset: number; length: number }>();
  private readonly chunk = Buffer.allocUnsafe(8 << 20);
  // Writes are strictly sequential, so the file's sha256 is computed on the way out (no re-read).
  private readonly hash: Hash = createHash("sha256");
  private digest: string | undefined;

  /** `align`: every tensor starts at a multiple of it (4096 lets onnxruntime memory-map the file). */
  constructor(file: string, align = 4096) {
    this.path = path.resolve(file);
    this.align = align;
    this.fd = fs.openSync(this.path, "w");
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.size;
  }

  /** Writes the tensor's data (streamed from its source) and returns where it landed. */
  append(t: TensorProto, sourceDir: string): { offset: number; length: number } {
    const prior = this.written.get(t);
    if (prior) return prior;
    const pad = (this.align - (this.size % this.align)) % this.align;
    if (pad > 0) {
      const zeros = Buffer.alloc(pad);
      fs.writeSync(this.fd, zeros, 0, pad, this.size);
      this.hash.update(zeros);
      this.size += pad;
    }
    const offset = this.size;
    const ext = externalRef(t, sourceDir);
    if (ext) {
      const src = fs.openSync(ext.path, "r");
      try {
        let done = 0;
        while (done < ext.length) {
          const want = Math.min(this.chunk.length, ext.length - done);
          const n = fs.readSync(src, this.chunk, 0, want, ext.offset + done);
          if (n === 0) throw fail("E_EXTERNAL_DATA", `${ext.path} ended early while copying ${t.name}`);
          fs.writeSync(this.fd, this.chunk, 0, n, offset + done);
          this.hash.update(this.chunk.subarray(0, n));
          done += n;
        }
      } finally {
        fs.closeSync(src);
      }
      this.size += ext.length;
    } else {
      const raw = tensorRawBytes(t, sourceDir);
      fs.writeSync(this.fd, raw, 0, raw.length, offset);
      this.hash.update(raw);
      this.size += raw.length;
    }
    const where = { offset, length: this.size - offset };
    this.written.set(t, where);
    return where;
  }

  /** sha256 (hex) of the file's bytes; available after close(). */
  get sha256(): string {
    if (this.digest === undefined) throw fail("E_INTERNAL", "ExternalDataWriter.sha256 read before close()");
    return this.digest;
  }

  /**
   * Closes the file. No fsync: a split is checked by the manifest's sha256s (`verify --check-hashes`),
   * and forcing 500 MB to disk would double the time a split takes.
   */
  close(): void {
    if (this.fd >= 0) {
      this.digest = this.hash.digest("hex");
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/** How saveModel stores tensor data. */
export interface SaveOptions {
  /** Folder external locations of the source tensors are relative to. */
  sourceDir: string;
  /** Where large tensors go; omit to embed every tensor. Its file must be in the output model's folder. */
  externalData?: ExternalDataWriter;
  /** Tensors of at least this many bytes go to external data (default 1024, as the onnx package does). */
  threshold?: number;
  /**
   * Leave tensors that are external in the source pointing at their files (default false: they are
   * embedded or moved to `externalData`). The caller makes those files reachable from the output folder.
   */
  keepExternal?: boolean;
}

/**
 * Visits every TensorProto a graph holds: initializers, sparse initializer parts, Constant and
 * other tensor attributes, recursively through subgraphs. `fn` returns a replacement or undefined.
 */
export function mapGraphTensors(g: GraphProto, fn: (t: TensorProto) => TensorProto | undefined): GraphProto {
  const mapT = (t: TensorProto): TensorProto => fn(t) ?? t;
  return {
    ...g,
    node: g.node.map((n) => mapNodeTensors(n, fn)),
    initializer: g.initializer.map(mapT),
    sparseInitializer: g.sparseInitializer.map((s) => mapSparse(s, mapT)),
  };
}

function mapSparse(s: SparseTensorProto, mapT: (t: TensorProto) => TensorProto): SparseTensorProto {
  return { ...s, values: s.values && mapT(s.values), indices: s.indices && mapT(s.indices) };
}

/** True when an attribute holds a tensor, a sparse tensor or a subgraph (or lists of them). */
function holdsTensors(a: AttributeProto): boolean {
  return !!(a.t || a.tensors.length || a.g || a.graphs.length || a.sparseTensor || a.sparseTensors.length);
}

/** mapGraphTensors for one node's attributes (and the subgraphs they hold). A node without any is returned as is. */
export function mapNodeTensors(n: NodeProto, fn: (t: TensorProto) => TensorProto | undefined): NodeProto {
  if (!n.attribute.some(holdsTensors)) return n;
  const mapT = (t: TensorProto): TensorProto => fn(t) ?? t;
  return {
    ...n,
    attribute: n.attribute.map((a) => (!holdsTensors(a) ? a : {
      ...a,
      t: a.t ? mapT(a.t) : a.t,
      tensors: a.tensors.map(mapT),
      g: a.g ? mapGraphTensors(a.g, fn) : a.g,
      graphs: a.graphs.map((sg) => mapGraphTensors(sg, fn)),
      sparseTensor: a.sparseTensor ? mapSparse(a.sparseTensor, mapT) : a.sparseTensor,
      sparseTensors: a.sparseTensors.map((s) => mapSparse(s, mapT)),
    })),
  };
}

/**
 * Calls `fn` on every TensorProto a graph holds, in the places mapGraphTensors visits
 * (initializers, sparse initializer parts, tensor attributes, subgraphs at any depth).
 */
export function forEachTensor(g: GraphProto, fn: (t: TensorProto) => void): void {
  for (const t of g.initializer) fn(t);
  for (const s of g.sparseInitializer) forEachSparse(s, fn);
  for (const n of g.node) forEachNodeTensor(n, fn);
}

/** forEachTensor for one node's attributes (and the subgraphs they hold). */
export function forEachNodeTensor(n: NodeProto, fn: (t: TensorProto) => void): void {
  for (const a of n.attribute) {
    if (a.t) fn(a.t);
    for (const t of a.tensors) fn(t);
    if (a.sparseTensor) forEachSparse(a.sparseTensor, fn);
    for (const s of a.sparseTensors) forEachSparse(s, fn);
    if (a.g) forEachTensor(a.g, fn);
    for (const sg of a.graphs) forEachTensor(sg, fn);
  }
}

function forEachSparse(s: SparseTensorProto, fn: (t: TensorProto) => void): void {
  if (s.values) fn(s.values);
  if (s.indices) fn(s.indices);
}

/**
 * Serializes a model. Tensors stay as they are unless they must move: with `externalData`,
 * tensors of `threshold` bytes or more are streamed into its file; every other tensor whose
 * data was external in the source is embedded. The input proto is not modified.
 */
export function serializeModel(model: ModelProto, opts: SaveOptions): Uint8Array {
  const threshold = opts.threshold ?? 1024;
  const writer = opts.externalData;
  const relocate = (t: TensorProto): TensorProto | undefined => {
    const size = tensorByteSize(t);
    const isExternal = t.dataLocation === TensorProto_DataLocation.EXTERNAL;
    if (isExternal && opts.keepExternal) return undefined;
    if (writer && size !== undefined && size >= threshold) {
      const where = writer.append(t, opts.sourceDir);
      return create(TensorProtoSchema, {
        ...t,
        rawData: new Uint8Array(0),
        floatData: [], int32Data: [], int64Data: [], doubleData: [], uint64Data: [], stringData: [],
        dataLocation: TensorProto_DataLocation.EXTERNAL,
        externalData: [
          create(StringStringEntryProtoSchema, { key: "location", value: path.basename(writer.path) }),
          create(StringStringEntryProtoSchema, { key: "offset", value: String(where.offset) }),
          create(StringStringEntryProtoSchema, { key: "length", value: String(where.length) }),
        ],
      });
    }
    if (isExternal) {
      return create(TensorProtoSchema, {
        ...t,
        rawData: tensorRawBytes(t, opts.sourceDir),
        dataLocation: TensorProto_DataLocation.DEFAULT,
        externalData: [],
      });
    }
    return undefined;
  };
  const graph = model.graph ? mapGraphTensors(model.graph, relocate) : model.graph;
  const functions = model.functions.map((f) => ({ ...f, node: f.node.map((n) => mapNodeTensors(n, relocate)) }));
  const out = create(ModelProtoSchema, { ...model, graph, functions });
  const bytes = toBinary(ModelProtoSchema, out, { writeUnknownFields: true });
  if (bytes.length > MAX_PROTO_BYTES) {
    throw fail("E_UNSUPPORTED", `the model would serialize to ${bytes.length} bytes (over 2 GiB); write it with external data`);
  }
  return bytes;
}

/** Writes a model file (see serializeModel). Writes to a temporary name first, then renames. */
export function saveModel(model: ModelProto, file: string, opts: SaveOptions): void {
  const bytes = serializeModel(model, opts);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}
