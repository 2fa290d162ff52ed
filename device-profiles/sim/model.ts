/**
 * The model a simulation runs: a split's geometry (what crosses each cut, model input and output
 * bytes, from the manifest at its recorded shapes) and its segments' costs on the reference board,
 * from which each profile's times follow (t_board = t_reference / relativeSpeed).
 */
import { requestSizes } from "../../agent/core/costs.js";
import { geometryFromManifest, type ManifestGeometry } from "../../agent/planner/manifest.js";
import { fail } from "../../sdk/errors.js";
import type { Manifest } from "../../sdk/graph/manifest.js";
import { scaleSegmentMs, type Calibration } from "./costs.js";

/** A split with its segment costs (see the module comment). */
export interface SimModel {
  /** A label for SimResult.meta.model (the split folder's name, or "tiny-gpt"). */
  name: string;
  splitId: string;
  /** Idle ms of each segment on the reference board (relativeSpeed 1, the Raspberry Pi 4). */
  referenceMs: number[];
  /** Memory of each segment when loaded: the measured session RSS, at least the weights (bytes). */
  memBytes: number[];
  geometry: ManifestGeometry;
  /** Where the costs came from, for people. */
  costSource: string;
}

/**
 * A SimModel from a manifest and a calibration holding this split's per-segment times.
 * E_USAGE when the calibration has no segment times, or was measured on another split.
 */
export function modelFromCalibration(manifest: Manifest, cal: Calibration, name: string, costSource: string): SimModel {
  const m = cal.model;
  if (m === undefined) throw fail("E_USAGE", `the calibration (${costSource}) has no per-segment times; make one with edgecut calibrate --manifest <split>/manifest.json`);
  if (m.splitId !== manifest.splitId) {
    throw fail("E_USAGE", `the calibration (${costSource}) was measured on split ${m.splitId.slice(0, 12)}..., not this one (${manifest.splitId.slice(0, 12)}...); re-run edgecut calibrate --manifest on this split`);
  }
  if (m.segmentMs.length !== manifest.segments.length) {
    throw fail("E_USAGE", `the calibration (${costSource}) has ${m.segmentMs.length} segment times for ${manifest.segments.length} segments; re-run edgecut calibrate --manifest`);
  }
  return {
    name, splitId: manifest.splitId,
    referenceMs: scaleSegmentMs(cal, 1),
    memBytes: manifest.segments.map((s, i) => Math.max(s.weightBytes, m.segmentRssBytes[i] ?? 0)),
    geometry: geometryFromManifest(manifest, requestSizes(manifest)),
    costSource,
  };
}

/** Idle device ms of each segment on a board of `relativeSpeed` (what scaleSegmentMs gives). */
export function segmentMsOn(model: SimModel, relativeSpeed: number): number[] {
  return model.referenceMs.map((ms) => ms / relativeSpeed);
}
