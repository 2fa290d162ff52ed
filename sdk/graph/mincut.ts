/**
 * The optimal two-way split, as DADS (Hu et al., INFOCOM 2019) finds it: a minimum s-t cut.
 *
 * Latency model: every non-constant node runs either on the device (flops / deviceFlopsPerSec)
 * or in the cloud (flops / cloudFlopsPerSec); model inputs start on the device; each tensor the
 * cloud reads from the device is uploaded once (bytes / bandwidth); each model output the cloud
 * makes is downloaded (bytes / downBandwidth); one round trip (rtt) is paid when anything crosses.
 *
 * Network: source = device, sink = cloud. Node v: source->v with its cloud time (paid when v is
 * in the cloud) plus the download of the model outputs it makes; v->sink with its device time.
 * One vertex per tensor so a tensor read by many cloud nodes is uploaded once: producer->tensor
 * with the upload time, tensor->reader infinite. reader->producer infinite keeps the device side
 * closed under dependencies. The round trip is not additive: the min cut is compared with
 * running everything on the device, the only split where nothing crosses.
 */
import type { Graph } from "./graph.js";
import type { CutMetrics } from "./cuts.js";
import { canCross, constantInfo, type ConstantInfo } from "./partition.js";
import { FrontIndex } from "./front-sets.js";
import { FlowNetwork } from "./maxflow.js";
import { fail } from "../errors.js";

/** Device, cloud and network speeds for the latency model. */
export interface SplitCostModel {
  /** Upload bandwidth, device to cloud. */
  bandwidthBytesPerSec: number;
  /** Round-trip time, paid once when anything crosses. */
  rttSec: number;
  deviceFlopsPerSec: number;
  cloudFlopsPerSec: number;
  /** Download bandwidth, cloud to device (default: bandwidthBytesPerSec). */
  downBandwidthBytesPerSec?: number;
}

/** Predicted latency of one two-way split and where it comes from. */
export interface SplitPrediction {
  /** Total predicted seconds: device + cloud + transfers + round trip. */
  predictedSec: number;
  deviceSec: number;
  cloudSec: number;
  /** Upload + download seconds, without the round trip. */
  transferSec: number;
  /** Bytes of front tensors the back reads (the cut tensors). */
  crossingBytes: number;
  /** Bytes uploaded: crossingBytes plus the model inputs the back reads. */
  upBytes: number;
  /** Bytes of model outputs the back makes, sent back to the device. */
  downBytes: number;
}

/** The best two-way split under the latency model. */
export interface OptimalCut extends SplitPrediction {
  /** Non-constant node indices that run on the device; may be empty or every node. */
  front: Set<number>;
  /** "split" when both sides have work; otherwise the optimum is not a real split. */
  kind: "split" | "all-local" | "all-cloud";
  allLocalSec: number;
  allCloudSec: number;
  /** Assumptions made (unknown FLOPs counted as 0, tensors of unknown size never crossing). */
  notes: string[];
}

interface Prepared {
  fi: FrontIndex;
  devSec: Float64Array;
  cloudSec: Float64Array;
  bytes: (t: string) => number;
  notes: string[];
}

function checkCost(cost: SplitCostModel): void {
  const pos = (name: string, v: number | undefined, zeroOk = false): void => {
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!zeroOk && v === 0)) {
      throw fail("E_USAGE", `${name} must be a ${zeroOk ? "non-negative" : "positive"} finite number (got ${String(v)})`);
    }
  };
  pos("bandwidthBytesPerSec", cost.bandwidthBytesPerSec);
  pos("rttSec", cost.rttSec, true);
  pos("deviceFlopsPerSec", cost.deviceFlopsPerSec);
  pos("cloudFlopsPerSec", cost.cloudFlopsPerSec);
  pos("downBandwidthBytesPerSec", cost.downBandwidthBytesPerSec);
  if (cost.bandwidthBytesPerSec === undefined || cost.rttSec === undefined || cost.deviceFlopsPerSec === undefined || cost.cloudFlopsPerSec === undefined) {
    throw fail("E_USAGE", "the cost model needs bandwidthBytesPerSec, rttSec, deviceFlopsPerSec and cloudFlopsPerSec");
  }
}

function prepare(g: Graph, m: CutMetrics, cost: SplitCostModel, constants: ConstantInfo): Prepared {
  checkCost(cost);
  const fi = new FrontIndex(g, constants);
  const notes: string[] = [];
  const devSec = new Float64Array(fi.size);
  const cloudSec = new Float64Array(fi.size);
  const unknownFlops: string[] = [];
  for (let p = 0; p < fi.size; p++) {
    const node = fi.nodeAt[p]!;
    const f = m.nodeFlops(node);
    if (f === null) unknownFlops.push(`#${node} (${g.nodes[node]!.opType})`);
    devSec[p] = (f ?? 0) / cost.deviceFlopsPerSec;
    cloudSec[p] = (f ?? 0) / cost.cloudFlopsPerSec;
  }
  if (unknownFlops.length) {
    notes.push(`${unknownFlops.length} node(s) have unknown FLOPs, counted as 0: ${unknownFlops.slice(0, 5).join(", ")}${unknownFlops.length > 5 ? ", ..." : ""}`);
  }
  const memo = new Map<string, number>();
  const bytes = (t: string): number => {
    let b = memo.get(t);
    if (b === undefined) {
      const known = m.tensorBytes(t);
      if (!canCross(g, t)) b = Infinity;
      else if (known === null) {
        b = Infinity;
        notes.push(`"${t}" has an unknown size: it is kept from crossing`);
      } else b = known;
      memo.set(t, b);
    }
    return b;
  };
  return { fi, devSec, cloudSec, bytes, notes };
}

function predict(g: Graph, pr: Prepared, cost: SplitCostModel, onDevice: (p: number) => boolean): SplitPrediction {
  const { fi } = pr;
  const down = cost.downBandwidthBytesPerSec ?? cost.bandwidthBytesPerSec;
  let deviceSec = 0;
  let cloudSec = 0;
  let crossingBytes = 0;
  let inputBytes = 0;
  let downBytes = 0;
  let crosses = false;
  const readInCloud = (t: string): boolean => (fi.readers.get(t) ?? []).some((q) => !onDevice(q));
  for (let p = 0; p < fi.size; p++) {
    const node = g.nodes[fi.nodeAt[p]!]!;
    if (onDevice(p)) {
      deviceSec += pr.devSec[p]!;
      for (const t of node.outputs) if (readInCloud(t)) { crossingBytes += pr.bytes(t); crosses = true; }
    } else {
      cloudSec += pr.cloudSec[p]!;
      for (const t of node.outputs) if (g.tensors.get(t)!.isOutput) { downBytes += pr.bytes(t); crosses = true; }
    }
  }
  for (const x of g.inputs) if (readInCloud(x)) { inputBytes += pr.bytes(x); crosses = true; }
  const upBytes = crossingBytes + inputBytes;
  const transferSec = upBytes / cost.bandwidthBytesPerSec + downBytes / down;
  return {
    predictedSec: deviceSec + cloudSec + transferSec + (crosses ? cost.rttSec : 0),
    deviceSec, cloudSec, transferSec, crossingBytes, upBytes, downBytes,
  };
}

/**
 * Predicted latency of running `front` (non-constant node indices, closed under dependencies) on
 * the device and the rest in the cloud.
 */
export function predictSplit(g: Graph, m: CutMetrics, cost: SplitCostModel, front: ReadonlySet<number>, opts: { constants?: ConstantInfo } = {}): SplitPrediction {
  const pr = prepare(g, m, cost, opts.constants ?? constantInfo(g));
  return predict(g, pr, cost, (p) => front.has(pr.fi.nodeAt[p]!));
}

/**
 * The split minimizing predicted latency. The front may be empty (all cloud) or every node (all
 * local): `kind` says so, and the caller decides (a split command reports E_NO_CANDIDATES).
 */
export function optimalCut(g: Graph, m: CutMetrics, cost: SplitCostModel, opts: { constants?: ConstantInfo } = {}): OptimalCut {
  const pr = prepare(g, m, cost, opts.constants ?? constantInfo(g));
  const { fi } = pr;
  const n = fi.size;
  const down = cost.downBandwidthBytesPerSec ?? cost.bandwidthBytesPerSec;
  // Vertices: 0 source (device), 1 sink (cloud), 2+p nodes, then one per crossing-able tensor.
  const tensorVertex = new Map<string, number>();
  let next = 2 + n;
  for (const t of fi.readers.keys()) tensorVertex.set(t, next++);
  const net = new FlowNetwork(next);
  for (let p = 0; p < n; p++) {
    const node = g.nodes[fi.nodeAt[p]!]!;
    let downSec = 0;
    for (const t of node.outputs) if (g.tensors.get(t)!.isOutput) downSec += pr.bytes(t) / down;
    net.addEdge(0, 2 + p, pr.cloudSec[p]! + downSec);
    net.addEdge(2 + p, 1, pr.devSec[p]!);
    for (const t of node.outputs) {
      const v = tensorVertex.get(t);
      if (v !== undefined) net.addEdge(2 + p, v, pr.bytes(t) / cost.bandwidthBytesPerSec);
    }
    for (const t of fi.reads[p]!) {
      net.addEdge(tensorVertex.get(t)!, 2 + p, Infinity);
      const prod = g.tensors.get(t)!.producer;
      if (prod !== null) net.addEdge(2 + p, 2 + fi.posOf[prod]!, Infinity);
    }
  }
  for (const x of g.inputs) {
    const v = tensorVertex.get(x);
    if (v !== undefined) net.addEdge(0, v, pr.bytes(x) / cost.bandwidthBytesPerSec);
  }
  net.maxFlow(0, 1);
  const side = net.sourceSide(0);

  const cut = predict(g, pr, cost, (p) => side[2 + p] === 1);
  const allLocal = predict(g, pr, cost, () => true);
  const allCloud = predict(g, pr, cost, () => false);
  let best = cut;
  let front = new Set<number>();
  for (let p = 0; p < n; p++) if (side[2 + p] === 1) front.add(fi.nodeAt[p]!);
  if (allLocal.predictedSec <= cut.predictedSec) {
    best = allLocal;
    front = new Set(fi.nodeAt);
  }
  const kind = front.size === n ? "all-local" : front.size === 0 ? "all-cloud" : "split";
  return { ...best, front, kind, allLocalSec: allLocal.predictedSec, allCloudSec: allCloud.predictedSec, notes: [...new Set(pr.notes)] };
}
