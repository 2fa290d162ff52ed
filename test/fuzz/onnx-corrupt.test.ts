// Corrupt ONNX files into the graph parser (loadModel/parseModelBytes, Graph, then analyze and
// candidateCuts as `inspect` runs them): truncations at many offsets, bit flips, protobuf length
// prefixes past the end of the file, absurd dims, raw_data of the wrong size, external data past
// its file's end, cycles, duplicate outputs, missing inputs. Each ends in an EdgecutError with a
// stable code and a message naming what is wrong, in bounded memory; `edgecut inspect` on such a
// file exits 2 with the code on stderr.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { clone, create, toBinary } from "@bufbuild/protobuf";
import { EdgecutError, ERRORS, type ErrorCode } from "../../sdk/errors.js";
import { analyze } from "../../sdk/graph/analyze.js";
import { candidateCuts } from "../../sdk/graph/cuts.js";
import { Graph } from "../../sdk/graph/graph.js";
import { forEachNodeTensor, loadModel, parseModelBytes, serializeModel } from "../../sdk/graph/model-io.js";
import { buildModel } from "../../sdk/graph/models/index.js";
import { makeTensor } from "../../sdk/graph/builder.js";
import {
  GraphProtoSchema, ModelProtoSchema, StringStringEntryProtoSchema, TensorProto_DataLocation, ValueInfoProtoSchema,
  type ModelProto, type TensorProto, type TensorShapeProto,
} from "../../sdk/graph/onnx/onnx_pb.js";
import { assertCliError, cyclicModel, FIXTURES, runCli, spawnCli } from "../cli/helpers.js";
import { heapAfterGc, HAS_GC, mib } from "./heap.js";
import { Rng } from "./mutate.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-onnx-corrupt-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const serialize = (m: ModelProto): Uint8Array => serializeModel(m, { sourceDir: dir });
/** Written as is, without the checks serializeModel makes on the way out. */
const raw = (m: ModelProto): Uint8Array => toBinary(ModelProtoSchema, m);

const GENERATED: Record<string, ModelProto> = {
  mlp: buildModel("mlp", { layers: 2, dModel: 8 }),
  "tiny-gpt": buildModel("tiny-gpt", { layers: 1, dModel: 8, heads: 2, vocab: 16, maxPositions: 8 }),
  "tiny-gpt-kv": buildModel("tiny-gpt", { layers: 1, dModel: 8, heads: 2, vocab: 16, maxPositions: 8, kvCache: true }),
  "tiny-cnn": buildModel("tiny-cnn", { layers: 1, dModel: 2 }),
};
const FIXTURE_FILES = fs.readdirSync(FIXTURES).filter((f) => f.endsWith(".onnx")).sort();
const SOURCES: [string, Uint8Array][] = [
  ...Object.entries(GENERATED).map(([k, m]): [string, Uint8Array] => [k, serialize(m)]),
  // Copied out of the Buffer: Buffer#slice is a view, and the flips below must not write through.
  ...FIXTURE_FILES.map((f): [string, Uint8Array] => [f, new Uint8Array(fs.readFileSync(path.join(FIXTURES, f)))]),
];

/** What inspect does with a file before printing: parse, index, analyze, find the cuts. */
function parseAll(bytes: Uint8Array, where: string): ModelProto {
  const proto = parseModelBytes(bytes, where);
  const g = Graph.fromModel(proto, dir);
  const a = analyze(g, {});
  candidateCuts(g, a.metrics, { constants: a.constants });
  return proto;
}

/** The EdgecutError `fn` throws (checked: a catalogue code of the input kind, a message), or undefined when it returns. */
function edgecutError(what: string, fn: () => unknown): EdgecutError | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    assert.ok(e instanceof EdgecutError, `${what}: threw a non-EdgecutError: ${(e as Error)?.stack ?? String(e)}`);
    assert.ok(e.code in ERRORS && e.kind === "input", `${what}: ${e.code} (${e.kind}): ${e.message}`);
    assert.ok(e.message.length > 20, `${what}: ${e.code} without a message`);
    return e;
  }
}

function expectCode(what: string, fn: () => unknown, code: ErrorCode, fragment: RegExp): void {
  const e = edgecutError(what, fn);
  assert.ok(e, `${what}: no error`);
  assert.equal(e.code, code, `${what}: ${e.message}`);
  assert.match(e.message, fragment, what);
}

const graphBytes = (m: ModelProto): Buffer => Buffer.from(toBinary(GraphProtoSchema, m.graph!));

describe("random corruption of every source model", () => {
  let heapBefore = { heap: 0, buffers: 0 };
  const tally = { truncations: 0, intactTruncations: 0, flips: 0, validFlips: 0, lengths: 0, codes: new Map<string, number>() };
  const count = (e: EdgecutError | undefined): void => { if (e) tally.codes.set(e.code, (tally.codes.get(e.code) ?? 0) + 1); };

  test("truncated at many offsets: E_MODEL_PARSE naming the file, unless the cut left the whole graph", () => {
    heapBefore = heapAfterGc();
    const r = new Rng(0x0ccc);
    for (const [name, bytes] of SOURCES) {
      const intact = graphBytes(parseModelBytes(bytes, name));
      const small = bytes.length < 20_000;
      // Every offset of the first bytes (tags and lengths of the outer messages), then spread over the file.
      const offsets = new Set<number>([0, 1, bytes.length - 1, bytes.length - 2]);
      for (let i = 0; i < (small ? 64 : 24); i++) offsets.add(i);
      for (let i = 0; i < (small ? 120 : 30); i++) offsets.add(r.int(bytes.length));
      for (const at of offsets) {
        tally.truncations++;
        let proto: ModelProto | undefined;
        const e = edgecutError(`${name} cut at ${at}`, () => { proto = parseAll(bytes.subarray(0, at), `${name}`); });
        count(e);
        if (e === undefined) {
          // Only optional fields after the graph (metadata, functions the graph does not call) may go silently.
          assert.ok(graphBytes(proto!).equals(intact), `${name} cut at ${at} of ${bytes.length}: parsed without error but lost part of its graph`);
          tally.intactTruncations++;
        } else if (e.code === "E_MODEL_PARSE") assert.match(e.message, new RegExp(`${name.replace(/[.]/g, "\\.")}.*(not a valid ONNX model|has no graph)`));
      }
    }
    assert.ok((tally.codes.get("E_MODEL_PARSE") ?? 0) > 300);
  });

  test("bit flips and overwritten bytes: an EdgecutError of the input kind, or a model that still parses", () => {
    const r = new Rng(0xf11b);
    for (const [name, bytes] of SOURCES) {
      const cases = bytes.length < 20_000 ? 150 : 25;
      for (let c = 0; c < cases; c++) {
        const m = bytes.slice();
        // Most flips in the first KiB (graph structure, names, dims), some anywhere.
        const span = r.chance(0.7) ? Math.min(m.length, 1024) : m.length;
        for (let k = 1 + r.int(4); k > 0; k--) {
          const at = r.int(span);
          if (r.chance(0.5)) m[at]! ^= 1 << r.int(8);
          else m[at] = r.int(256);
        }
        tally.flips++;
        const e = edgecutError(`${name} flip case ${c}`, () => parseAll(m, name));
        count(e);
        if (!e) tally.validFlips++;
      }
    }
    assert.ok(tally.flips - tally.validFlips > 200, "most flips in the structure are caught");
  });

  test("a protobuf length prefix declaring more bytes than the file has: E_MODEL_PARSE, nothing allocated for it", () => {
    const r = new Rng(0x1e47);
    for (const [name, bytes] of SOURCES.filter(([, b]) => b.length < 20_000)) {
      const spots = lengthPrefixes(bytes);
      assert.ok(spots.length > 20, `${name}: ${spots.length} length-delimited fields found`);
      for (let c = 0; c < 60; c++) {
        const s = r.pick(spots);
        // protobuf-es reads a length as uint32 (the high bits of a longer varint are dropped), so
        // huge lengths are built as multiples of 2^32 above a length that is past the end by itself.
        const past = bytes.length - s.end + 1 + r.pick([0, 1, 1000, 2 ** 20]) + 2 ** 32 * r.pick([0, 0, 1, 256, 2 ** 20]);
        const m = withVarint(bytes, s.start, s.end, past);
        tally.lengths++;
        const before = process.memoryUsage().arrayBuffers;
        expectCode(`${name}: field at ${s.start} declaring ${past} bytes`, () => parseAll(m, name), "E_MODEL_PARSE", new RegExp(`^${name} is not a valid ONNX model \\((premature EOF|illegal tag|.*)\\)`));
        assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, "a declared length is not allocated");
      }
    }
  });

  test("memory after all of them is what it was before", (t) => {
    const end = heapAfterGc();
    t.diagnostic(`onnx corrupt: ${SOURCES.length} sources; ${tally.truncations} truncations (${tally.intactTruncations} kept the whole graph), ${tally.flips} bit-flip cases ` +
      `(${tally.validFlips} still valid), ${tally.lengths} length prefixes past the end; codes ${JSON.stringify(Object.fromEntries(tally.codes))}; heap ${mib(heapBefore.heap)} -> ${mib(end.heap)}`);
    const bound = HAS_GC ? 64 * 2 ** 20 : 512 * 2 ** 20;
    assert.ok(end.heap - heapBefore.heap < bound && end.buffers - heapBefore.buffers < bound, `memory grew by ${mib(end.heap - heapBefore.heap)} heap, ${mib(end.buffers - heapBefore.buffers)} buffers`);
  });
});

/** Message fields (field number -> its message's fields) of the ONNX messages whose length prefixes are mutated. */
type Fields = { [field: number]: Fields | undefined };
const LEAF: Fields = {};
const ATTRIBUTE: Fields = {};
const GRAPH: Fields = { 1: { 5: ATTRIBUTE }, 5: LEAF, 11: LEAF, 12: LEAF, 13: LEAF };
ATTRIBUTE[5] = LEAF;
ATTRIBUTE[6] = GRAPH;
const MODEL: Fields = { 7: GRAPH, 8: LEAF, 14: LEAF, 25: LEAF };

/**
 * Positions of the length varints of every length-delimited field (strings, bytes, packed lists,
 * messages) in the model, its graph, nodes, attributes and their subgraphs, walked by the
 * schema so that no byte inside a string is taken for a length.
 */
function lengthPrefixes(bytes: Uint8Array): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  const varint = (pos: number): [number, number] => {
    let v = 0;
    for (let i = 0; i < 10; i++) {
      v += (bytes[pos + i]! & 0x7f) * 2 ** (7 * i);
      if (bytes[pos + i]! < 0x80) return [v, pos + i + 1];
    }
    throw new Error(`bad varint at ${pos}`);
  };
  const walk = (from: number, to: number, fields: Fields): void => {
    let pos = from;
    while (pos < to) {
      const [tag, next] = varint(pos);
      pos = next;
      switch (tag % 8) {
        case 0: pos = varint(pos)[1]; break;
        case 1: pos += 8; break;
        case 5: pos += 4; break;
        case 2: {
          const [len, body] = varint(pos);
          out.push({ start: pos, end: body });
          const child = fields[Math.floor(tag / 8)];
          if (child && child !== LEAF) walk(body, body + len, child);
          pos = body + len;
          break;
        }
        default: throw new Error(`wire type ${tag % 8} at ${pos}`);
      }
    }
  };
  walk(0, bytes.length, MODEL);
  return out;
}

/** `bytes` with the varint at start..end replaced by `value`. */
function withVarint(bytes: Uint8Array, start: number, end: number, value: number): Uint8Array {
  const v: number[] = [];
  let x = value;
  do {
    const b = x % 128;
    x = Math.floor(x / 128);
    v.push(x > 0 ? b | 0x80 : b);
  } while (x > 0);
  const out = new Uint8Array(bytes.length - (end - start) + v.length);
  out.set(bytes.subarray(0, start));
  out.set(v, start);
  out.set(bytes.subarray(end), start + v.length);
  return out;
}

/** A model edited in place by `edit` and written without checks. */
function edited(base: ModelProto, edit: (m: ModelProto) => void): Uint8Array {
  const m = clone(ModelProtoSchema, base);
  edit(m);
  return raw(m);
}

const firstInit = (m: ModelProto): TensorProto => m.graph!.initializer.find((t) => t.rawData.length > 0)!;
const inputShape = (m: ModelProto): TensorShapeProto => (m.graph!.input[0]!.type!.value.value as { shape: TensorShapeProto }).shape;

interface Case { what: string; bytes: () => Uint8Array; code: ErrorCode; message: RegExp }

const MLP = GENERATED.mlp!;
const GPT = GENERATED["tiny-gpt"]!;
const CASES: Case[] = [
  { what: "an initializer dim of 2^62", bytes: () => edited(MLP, (m) => { firstInit(m).dims = [2n ** 62n]; }), code: "E_TENSOR_DATA", message: /tensor fc\.0\.\w+ declares dims \[4611686018427387904\]/ },
  { what: "a negative initializer dim", bytes: () => edited(MLP, (m) => { firstInit(m).dims = [-3n, 8n]; }), code: "E_TENSOR_DATA", message: /fc\.0\.\w+ has a negative dim -3/ },
  { what: "initializer dims whose product passes 2^53", bytes: () => edited(GPT, (m) => { firstInit(m).dims = [2n ** 31n, 2n ** 31n, 2n ** 31n]; }), code: "E_TENSOR_DATA", message: /declares dims \[2147483648, 2147483648, 2147483648\]/ },
  { what: "raw_data shorter than the dims need", bytes: () => edited(MLP, (m) => { const t = firstInit(m); t.rawData = t.rawData.subarray(0, 5); }), code: "E_TENSOR_DATA", message: /needs \d+ bytes of raw_data but holds 5/ },
  { what: "raw_data longer than the dims need", bytes: () => edited(GPT, (m) => { const t = firstInit(m); t.rawData = new Uint8Array(t.rawData.length + 4); }), code: "E_TENSOR_DATA", message: /wte\.weight \(float32 \[16, 8\]\) needs 512 bytes of raw_data but holds 516/ },
  { what: "an element type ONNX does not define", bytes: () => edited(MLP, (m) => { firstInit(m).dataType = 999; }), code: "E_MODEL_INVALID", message: /element type 999/ },
  {
    what: "a Constant node whose value claims 2^40 elements", code: "E_TENSOR_DATA", message: /\(int64 \[1099511627776\]\) needs 8796093022208 bytes of raw_data but holds 8/,
    bytes: () => edited(GPT, (m) => {
      const node = m.graph!.node.find((n) => n.opType === "Constant")!;
      forEachNodeTensor(node, (t) => { t.dims = [2n ** 40n]; });
    }),
  },
  {
    what: "an If branch holding an initializer with raw_data of the wrong size", code: "E_TENSOR_DATA", message: /tensor hidden\.w \(float32 \[4\]\) needs 16 bytes of raw_data but holds 3/,
    bytes: () => {
      const m = loadModel(path.join(FIXTURES, "control-flow.onnx")).proto;
      const branch = m.graph!.node.find((n) => n.opType === "If")!.attribute.find((a) => a.g)!.g!;
      branch.initializer.push(makeTensor("hidden.w", "float32", [4], new Float32Array(4)));
      branch.initializer.at(-1)!.rawData = new Uint8Array(3);
      return raw(m);
    },
  },
  { what: "a graph input declaring a dim of 2^62", bytes: () => edited(GPT, (m) => { inputShape(m).dim[1]!.value = { case: "dimValue", value: 2n ** 62n }; }), code: "E_MODEL_INVALID", message: /"input_ids" declares dim 1 = 4611686018427387904/ },
  { what: "a cycle", bytes: () => raw(cyclicModel()), code: "E_GRAPH_CYCLE", message: /cycle through tensor "(a|c)"/ },
  { what: "a node reading its own output", bytes: () => edited(MLP, (m) => { const n = m.graph!.node[1]!; n.input[0] = n.output[0]!; }), code: "E_GRAPH_CYCLE", message: /cycle through tensor "\/act\.0\/Relu_output_0"/ },
  { what: "two nodes writing the same output", bytes: () => edited(MLP, (m) => { m.graph!.node[1]!.output[0] = m.graph!.node[0]!.output[0]!; }), code: "E_DUPLICATE_PRODUCER", message: /produced twice: by node #0 \(Gemm\) and by node #1 \(Relu\)/ },
  { what: "a graph output listed twice", bytes: () => edited(MLP, (m) => { m.graph!.output.push(clone(ValueInfoProtoSchema, m.graph!.output[0]!)); }), code: "E_MODEL_INVALID", message: /graph output "y" is listed twice/ },
  { what: "a node output shadowing a graph input", bytes: () => edited(MLP, (m) => { m.graph!.node[0]!.output[0] = "x"; }), code: "E_DUPLICATE_PRODUCER", message: /"x" is produced twice: by the input/ },
  { what: "two initializers with one name", bytes: () => edited(MLP, (m) => { m.graph!.initializer.push(m.graph!.initializer[0]!); }), code: "E_DUPLICATE_INITIALIZER", message: /two initializers are named/ },
  { what: "a node reading a tensor nothing makes", bytes: () => edited(MLP, (m) => { m.graph!.node[1]!.input[0] = "ghost"; }), code: "E_DANGLING_INPUT", message: /reads tensor "ghost", which no node, input or initializer produces/ },
  { what: "a missing model input", bytes: () => edited(GPT, (m) => { m.graph!.input.splice(0, 1); }), code: "E_DANGLING_INPUT", message: /reads tensor "input_ids"/ },
  { what: "a graph output nothing makes", bytes: () => edited(MLP, (m) => { m.graph!.output[0]!.name = "ghost"; }), code: "E_DANGLING_INPUT", message: /graph output "ghost" is not produced/ },
  { what: "no graph", bytes: () => edited(MLP, (m) => { m.graph = undefined; }), code: "E_MODEL_PARSE", message: /has no graph/ },
  { what: "no opset_import", bytes: () => edited(MLP, (m) => { m.opsetImport = []; }), code: "E_MODEL_INVALID", message: /declares no opset_import/ },
  { what: "a varint of eleven 0xff bytes", bytes: () => new Uint8Array([0x08, ...Array(11).fill(0xff)]), code: "E_MODEL_PARSE", message: /not a valid ONNX model/ },
  { what: "a graph field declaring 2^32 + 9 bytes", bytes: () => new Uint8Array([0x3a, 0x89, 0x80, 0x80, 0x80, 0x10, 1, 2, 3]), code: "E_MODEL_PARSE", message: /bad\.onnx is not a valid ONNX model/ },
  { what: "not protobuf at all (text)", bytes: () => new TextEncoder().encode("this is not an onnx model\n"), code: "E_MODEL_PARSE", message: /not a valid ONNX model|has no graph/ },
];

describe("targeted corruption: the code and a message naming what is wrong", () => {
  for (const c of CASES) {
    test(c.what, () => {
      expectCode(c.what, () => parseAll(c.bytes(), "bad.onnx"), c.code, c.message);
    });
  }
});

/** smallMlp-like model whose first initializer points into w.bin with the given offset/length entries. */
function externalCase(offset: string | undefined, length: string | undefined): string {
  const file = path.join(dir, `ext-${offset}-${length}.onnx`);
  fs.writeFileSync(path.join(dir, "w.bin"), new Uint8Array(64));
  fs.writeFileSync(file, edited(MLP, (m) => {
    const t = firstInit(m);
    t.rawData = new Uint8Array(0);
    t.dataLocation = TensorProto_DataLocation.EXTERNAL;
    t.externalData = [create(StringStringEntryProtoSchema, { key: "location", value: "w.bin" })];
    if (offset !== undefined) t.externalData.push(create(StringStringEntryProtoSchema, { key: "offset", value: offset }));
    if (length !== undefined) t.externalData.push(create(StringStringEntryProtoSchema, { key: "length", value: length }));
  }));
  return file;
}

describe("edgecut inspect on corrupt files: exit 2, the code and what is wrong on stderr", () => {
  const write = (name: string, bytes: Uint8Array): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };
  const src = SOURCES.find(([n]) => n === "gpt2-tiny.onnx")![1];
  const cases: [string, () => string, ErrorCode, RegExp][] = [
    ["truncated to half", () => write("half.onnx", src.subarray(0, src.length >> 1)), "E_MODEL_PARSE", /half\.onnx is not a valid ONNX model/],
    ["raw_data of the wrong size", () => write("short.onnx", CASES.find((c) => c.what.startsWith("raw_data shorter"))!.bytes()), "E_TENSOR_DATA", /needs \d+ bytes of raw_data but holds 5/],
    ["an input dim of 2^62", () => write("dim.onnx", CASES.find((c) => c.what.startsWith("a graph input declaring"))!.bytes()), "E_MODEL_INVALID", /declares dim 1 = 4611686018427387904/],
    ["a cycle", () => write("cycle.onnx", raw(cyclicModel())), "E_GRAPH_CYCLE", /cycle/],
    ["a length prefix past the end", () => write("len.onnx", CASES.find((c) => c.what.startsWith("a graph field declaring"))!.bytes()), "E_MODEL_PARSE", /len\.onnx is not a valid ONNX model/],
    ["external data offset past its file's end", () => externalCase("4096", undefined), "E_EXTERNAL_DATA", /runs past the end of w\.bin \(64 bytes\)/],
    ["external data length 1e30", () => externalCase("0", "1e30"), "E_EXTERNAL_DATA", /bad external offset\/length/],
    ["external data offset 2^62", () => externalCase(String(2n ** 62n), undefined), "E_EXTERNAL_DATA", /bad external offset\/length/],
    ["external data offset not a number", () => externalCase("abc", undefined), "E_EXTERNAL_DATA", /bad external offset\/length \(abc/],
  ];
  for (const [what, file, code, message] of cases) {
    test(what, async () => {
      assertCliError(await runCli(["inspect", file()]), code, { message });
    });
  }

  test("as a real process: exit code 2 and the one error line", () => {
    const r = spawnCli(["inspect", path.join(dir, "short.onnx")]);
    assertCliError(r, "E_TENSOR_DATA", { message: /raw_data but holds 5/ });
  });
});
