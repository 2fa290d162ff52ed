// Shared helpers for the CLI tests: run `edgecut` in-process (main(argv) with stdout/stderr
// captured) or as a real process, check error reports, and build small hand-made models.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { main } from "../../sdk/cli/main.js";
import { GraphBuilder, makeValueInfo } from "../../sdk/graph/builder.js";
import { ExternalDataWriter, saveModel } from "../../sdk/graph/model-io.js";
import {
  ModelProtoSchema, StringStringEntryProtoSchema, TensorProto_DataLocation, TypeProtoSchema, TypeProto_SequenceSchema,
  ValueInfoProtoSchema, type ModelProto,
} from "../../sdk/graph/onnx/onnx_pb.js";
import type { ErrorCode } from "../../sdk/errors.js";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
export const FIXTURES = path.join(ROOT, "test", "fixtures", "torch");
export const GPT2_TINY = path.join(FIXTURES, "gpt2-tiny.onnx");
export const CONTROL_FLOW = path.join(FIXTURES, "control-flow.onnx");
const MAIN_TS = path.join(ROOT, "sdk", "cli", "main.ts");

/** What one CLI run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `edgecut <argv>` in this process through main(argv), capturing what it writes to
 * process.stdout / process.stderr (console.log included). process.exitCode is restored afterwards
 * so a failing `verify` cannot leak exit code 1 into the test process or the next run.
 */
export async function runCli(argv: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const savedOut = process.stdout.write;
  const savedErr = process.stderr.write;
  const savedExit = process.exitCode;
  // The CLI writes strings (console.log, printJson, commander). Under `node --test` the runner
  // streams its own binary (Buffer) events to this process's stdout while a test awaits: those
  // must pass through untouched, or the runner loses its protocol.
  const capture = (sink: string[], original: typeof process.stdout.write, stream: NodeJS.WriteStream) => ((chunk: unknown, ...rest: unknown[]): boolean => {
    if (typeof chunk !== "string") return (original as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
    sink.push(chunk);
    const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = capture(out, savedOut, process.stdout);
  process.stderr.write = capture(err, savedErr, process.stderr);
  let code: number;
  try {
    code = await main(argv);
  } finally {
    process.stdout.write = savedOut;
    process.stderr.write = savedErr;
    process.exitCode = savedExit;
  }
  return { code, stdout: out.join(""), stderr: err.join("") };
}

/** Runs the real `edgecut` process (node --import tsx sdk/cli/main.ts) and returns its exit code and output. */
export function spawnCli(argv: string[], opts: { cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", MAIN_TS, ...argv], {
    cwd: opts.cwd ?? ROOT, encoding: "utf8", timeout: 60_000, env: { ...process.env, NODE_NO_WARNINGS: "1" },
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The text error line `edgecut: E_CODE: message` (the last one on stderr), or undefined. */
export function errorLine(stderr: string): { code: string; message: string } | undefined {
  const lines = stderr.split("\n").filter((l) => l.startsWith("edgecut: "));
  const m = /^edgecut: (E_[A-Z_]+): (.*)$/.exec(lines[lines.length - 1] ?? "");
  return m ? { code: m[1]!, message: m[2]! } : undefined;
}

/**
 * Asserts the run failed with `code` (text mode: `edgecut: E_CODE: message` on stderr, nothing
 * on stdout) and the exit code of its kind (2 unless given). Returns the message.
 */
export function assertCliError(r: CliResult, code: ErrorCode, opts: { exit?: number; message?: RegExp } = {}): string {
  const ctx = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  const e = errorLine(r.stderr);
  assert.ok(e, `expected "edgecut: ${code}: ..." on stderr; ${ctx}`);
  assert.equal(e.code, code, `wrong error code; ${ctx}`);
  assert.equal(r.code, opts.exit ?? 2, `wrong exit code; ${ctx}`);
  assert.equal(r.stdout, "", `nothing should be printed on stdout on error; ${ctx}`);
  assert.ok(e.message.length > 10, `the message should say what is wrong; ${ctx}`);
  assert.doesNotMatch(e.message, /\n| {4}at /, `no stack trace in a user-facing error; ${ctx}`);
  if (opts.message) assert.match(e.message, opts.message, ctx);
  return e.message;
}

/** Asserts a --json error: `{ "error": { "code", "message" } }` alone on stdout, nothing on stderr. */
export function assertJsonError(r: CliResult, code: ErrorCode, opts: { exit?: number; message?: RegExp } = {}): string {
  const ctx = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  let doc: unknown;
  assert.doesNotThrow(() => { doc = JSON.parse(r.stdout); }, `stdout must be one JSON document; ${ctx}`);
  assert.ok(isRecord(doc) && isRecord(doc.error), `expected { error: {...} }; ${ctx}`);
  assert.deepEqual(Object.keys(doc), ["error"], ctx);
  const err = doc.error as Record<string, unknown>;
  assert.equal(err.code, code, ctx);
  assert.equal(typeof err.message, "string", ctx);
  assert.equal(r.code, opts.exit ?? 2, `wrong exit code; ${ctx}`);
  assert.equal(r.stderr, "", `with --json, nothing should go to stderr; ${ctx}`);
  if (opts.message) assert.match(err.message as string, opts.message, ctx);
  return err.message as string;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses stdout as one JSON document, with the run in the failure message. */
export function jsonOf(r: CliResult): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(r.stdout);
    assert.ok(isRecord(v));
    return v;
  } catch (e) {
    assert.fail(`stdout is not a JSON object (${(e as Error).message}); exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** The output folder was not created and no temp sibling (`<dir>.tmp-*`) was left behind. */
export function assertNoOutput(outDir: string): void {
  assert.equal(fs.existsSync(outDir), false, `${outDir} must not exist after a failed split`);
  const parent = path.dirname(outDir);
  if (fs.existsSync(parent)) {
    const base = path.basename(outDir);
    const left = fs.readdirSync(parent).filter((f) => f.startsWith(`${base}.tmp-`) || f.startsWith(`${base}.old-`) || f.includes(".tmp-"));
    assert.deepEqual(left, [], `temp files left next to ${outDir}`);
  }
}

/** A fresh temp folder, removed when the test (or suite) ends. */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = "edgecut-cli-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A list of every file under `dir` (relative paths) with its bytes, to check a folder was left untouched. */
export function snapshotDir(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) { out.set(`${path.relative(dir, p)}/`, ""); walk(p); }
      else out.set(path.relative(dir, p), fs.readFileSync(p).toString("base64"));
    }
  };
  walk(dir);
  return out;
}

/** Writes a model proto as is (no relocation of tensor data), for hand-edited models. */
export function writeRawModel(model: ModelProto, file: string): void {
  fs.writeFileSync(file, toBinary(ModelProtoSchema, model));
}

const seq = (n: number, f: (i: number) => number): Float32Array => Float32Array.from({ length: n }, (_, i) => f(i));

/**
 * x [batch, 16] -> MatMul w1 [16,16] -> Relu -> h -> MatMul w2 [16,16] -> Relu -> y.
 * w1 and w2 are 1 KiB each (at saveModel's external threshold). `inputName` renames x.
 */
export function smallMlp(inputName = "x"): ModelProto {
  const b = new GraphBuilder();
  b.input(inputName, "float32", ["batch", 16]);
  b.initializer("w1", "float32", [16, 16], seq(256, (i) => Math.sin(i) / 4));
  b.initializer("w2", "float32", [16, 16], seq(256, (i) => Math.cos(i) / 4));
  const h = b.op("Relu", [b.op("MatMul", [inputName, "w1"])], {}, { output: "h" });
  b.op("Relu", [b.op("MatMul", [h, "w2"])], {}, { output: "y" });
  b.output("y", "float32", ["batch", 16]);
  return b.build();
}

/** Saves smallMlp to `dir/name` with its weights in `dir/name.data` (via ExternalDataWriter). */
export function writeExternalModel(dir: string, name = "ext.onnx"): { model: string; data: string } {
  const model = path.join(dir, name);
  const data = `${model}.data`;
  const writer = new ExternalDataWriter(data);
  try {
    saveModel(smallMlp(), model, { sourceDir: dir, externalData: writer });
  } finally {
    writer.close();
  }
  return { model, data };
}

/** smallMlp with w1 marked external at `location` (offset 0, 1024 bytes), written without checks. */
export function writeModelWithLocation(file: string, location: string): void {
  const m = smallMlp();
  const w1 = m.graph!.initializer.find((t) => t.name === "w1")!;
  w1.rawData = new Uint8Array(0);
  w1.dataLocation = TensorProto_DataLocation.EXTERNAL;
  w1.externalData = [
    create(StringStringEntryProtoSchema, { key: "location", value: location }),
    create(StringStringEntryProtoSchema, { key: "offset", value: "0" }),
    create(StringStringEntryProtoSchema, { key: "length", value: "1024" }),
  ];
  writeRawModel(m, file);
}

/**
 * A graph with a cycle: x -> Relu(c) -> a -> Add(a, x) -> c (the Relu's input was edited from x to c),
 * plus Sigmoid(x) -> s so the graph has more than the cycle. Output c.
 */
export function cyclicModel(): ModelProto {
  const b = new GraphBuilder();
  b.input("x", "float32", [2, 4]);
  b.op("Relu", ["x"], {}, { output: "a" });
  b.op("Add", ["a", "x"], {}, { output: "c" });
  b.op("Sigmoid", ["c"], {}, { output: "s" });
  b.output("s", "float32", [2, 4]);
  const m = b.build();
  m.graph!.node[0]!.input = ["c"];
  return m;
}

/**
 * All the work inside one Loop: x [4,4] -> Loop(M=3, body: MatMul w, Relu) -> v -> Identity -> y.
 * The top level holds only the Loop and an Identity after it (without `identityAfter`: v is the output).
 */
export function loopModel(opts: { identityAfter?: boolean } = {}): ModelProto {
  const body = new GraphBuilder({ name: "body" });
  body.input("iter", "int64", []);
  body.input("cond_in", "bool", []);
  body.input("v_in", "float32", [4, 4]);
  body.op("Identity", ["cond_in"], {}, { output: "cond_out" });
  body.op("Relu", [body.op("MatMul", ["v_in", "w"], {}, { output: "body_mm" })], {}, { output: "v_out" });
  body.output("cond_out", "bool", []);
  body.output("v_out", "float32", [4, 4]);

  const b = new GraphBuilder();
  b.input("x", "float32", [4, 4]);
  b.initializer("w", "float32", [4, 4], seq(16, (i) => ((i % 5) - 2) / 4));
  b.initializer("M", "int64", [], BigInt64Array.from([3n]));
  b.node("Loop", ["M", "", "x"], { body: body.graph() }, ["v"]);
  if (opts.identityAfter ?? true) {
    b.op("Identity", ["v"], {}, { output: "y" });
    b.output("y", "float32", [4, 4]);
  } else {
    b.output("v", "float32", [4, 4]);
  }
  return b.build();
}

/**
 * x [2,4] -> Relu -> r -> SplitToSequence(axis 0) -> seq -> SequenceAt 0 / SequenceAt 1 -> Add -> y [1,4].
 * `seq` is a sequence value, declared as such in value_info.
 */
export function sequenceModel(): ModelProto {
  const b = new GraphBuilder();
  b.input("x", "float32", [2, 4]);
  b.op("Relu", ["x"], {}, { output: "r" });
  b.node("SplitToSequence", ["r"], { axis: 0 }, ["seq"]);
  const a0 = b.op("SequenceAt", ["seq", b.constInt64([0], true)], {}, { output: "a0" });
  const a1 = b.op("SequenceAt", ["seq", b.constInt64([1], true)], {}, { output: "a1" });
  b.op("Add", [a0, a1], {}, { output: "y" });
  b.output("y", "float32", [1, 4]);
  const m = b.build();
  const elem = makeValueInfo("elem", "float32", [1, 4]).type!;
  const vi = create(ValueInfoProtoSchema, {
    name: "seq",
    type: create(TypeProtoSchema, { value: { case: "sequenceType", value: create(TypeProto_SequenceSchema, { elemType: elem }) } }),
  });
  m.graph!.valueInfo.push(vi);
  return m;
}
