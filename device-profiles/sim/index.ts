/**
 * The virtual-time simulator of device profiles x network presets x scenarios (`edgecut simulate`,
 * `edgecut sweep`, `npm run bench sim`): the agent's own planner and policies against the
 * baselines on a seeded, deterministic timeline. Result format: types.ts (SimResult).
 */
export { simulate, simSetup, makeRequests, splitCosts, type SimulateOptions } from "./simulate.js";
export { sweep, type SweepOptions, type SweepRow } from "./sweep.js";
export { runAgent, type AgentSimOptions, type AgentSimResult } from "./agent-sim.js";
export { runStatic, bestStatic, runOracle, type RunContext, type RequestSpec } from "./baselines.js";
export { loadScenario, listScenarios, parseScenario, readScenarioFile, ScenarioSchema, SCENARIOS_DIR, type Scenario, type ScenarioEvent, type ScenarioInput } from "./scenario.js";
export { scenarioFromTrace, traceFile } from "./trace.js";
export { Timeline, type TrueConditions } from "./timeline.js";
export { loadSimModel, defaultCacheDir, type SimModelOptions } from "./segment-costs.js";
export { modelFromCalibration, segmentMsOn, type SimModel } from "./model.js";
export { ensureModelSplit, SIM_MODELS } from "./tiny-model.js";
export { simDevice, simLink, resolveLink, presetNames, type SimDevice, type SimLink } from "./network.js";
export { summarize, atLeastAsGood } from "./summary.js";
export type { SimResult, SimRequest, SimOutcome, SimConditions, SimSummaryRow, SimSplitCost, SimBreakdown, BaselineName } from "./types.js";
