/**
 * Codec throughput of `npm run bench offload` (run in its own process by bench/offload.ts; prints
 * one JSON line last): encodeFrame and decodeFrame of one 64 MiB float32 tensor ([4096, 4096]),
 * best of N runs each, as GB/s of the float32 payload (10^9 bytes/s) like docs/wire-format.md §9.
 * fp32 decodes as a view; the misaligned case (a frame handed over at an odd byteOffset, decoded
 * with the one copy of §4.2) is measured too. fp16 and int8-row are for information.
 * Usage: tsx bench/offload-codec.ts [runs]
 */
import { performance } from "node:perf_hooks";
import type { TensorMap } from "../sdk/runtime/tensor.js";
import { decodeFrame, encodeFrame, type Encoding, type RequestHeader } from "../sdk/wire/index.js";

const runs = Number(process.argv[2] ?? 5);
const ROWS = 4096;
const COLS = 4096;
const payloadBytes = ROWS * COLS * 4;

const data = new Float32Array(ROWS * COLS);
let seed = 12345;
for (let i = 0; i < data.length; i++) {
  seed = (seed * 1103515245 + 12345) >>> 0;
  data[i] = (seed / 2 ** 32 - 0.5) * 6;
}
const tensors: TensorMap = { h: { type: "float32", dims: [ROWS, COLS], data } };
const header: RequestHeader = { kind: "request", requestId: "bench-1", deviceId: "bench", splitId: "s", segments: { from: 1, to: 2 }, ttlMs: 10_000 };

/** Fastest of `runs` timings of f, ms. */
function best(f: () => unknown): number {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

const gbps = (ms: number): number => payloadBytes / (ms / 1000) / 1e9;

const out: Record<string, number | boolean> = { payloadBytes, runs };
for (const encoding of ["fp32", "fp16", "int8-row"] as Encoding[]) {
  let frame = encodeFrame(header, tensors, { encoding });
  const encodeMs = best(() => { frame = encodeFrame(header, tensors, { encoding }); });
  const decodeMs = best(() => decodeFrame(frame));
  const key = encoding === "int8-row" ? "int8Row" : encoding;
  Object.assign(out, {
    [`${key}FrameBytes`]: frame.byteLength, [`${key}EncodeMs`]: encodeMs, [`${key}EncodeGBps`]: gbps(encodeMs),
    [`${key}DecodeMs`]: decodeMs, [`${key}DecodeGBps`]: gbps(decodeMs),
  });
  if (encoding === "fp32") {
    const t = decodeFrame(frame).tensors.h!;
    out.fp32DecodeIsView = (t.data as Float32Array).buffer === frame.buffer;
    // A transport that hands over the frame at an odd offset: decodeFrame copies the section once (§4.2).
    const shifted = new Uint8Array(frame.byteLength + 1);
    shifted.set(frame, 1);
    const misaligned = shifted.subarray(1);
    const copyMs = best(() => decodeFrame(misaligned));
    out.fp32DecodeMisalignedMs = copyMs;
    out.fp32DecodeMisalignedGBps = gbps(copyMs);
    const u = decodeFrame(misaligned).tensors.h!.data as Float32Array;
    if (u[u.length - 1] !== data[data.length - 1] || u[0] !== data[0]) throw new Error("misaligned decode differs");
  }
}
console.log(JSON.stringify(out));
