/** The device agent's split planner: the plan table over every split point, and hysteresis over successive plans. */
export { plan, objectiveScoreMs } from "./plan.js";
export { SplitPolicy, type PolicyDecision } from "./policy.js";
export { predict, loadFactor, idleSegmentMs, cloudSegmentMs, transferBytes } from "./cost.js";
export { geometryFromManifest, type ManifestGeometry, type RequestSizes } from "./manifest.js";
export {
  PlannerConfigSchema, SplitPolicyConfigSchema, ObjectiveSchema, parsePlannerConfig, parseSplitPolicyConfig,
  type PlannerConfig, type PlannerConfigInput, type SplitPolicyConfig, type SplitPolicyConfigInput, type Objective,
} from "./config.js";
export type { PlanInputs, SegmentProfile, CutProfile, DeviceState, CloudProfile, Prediction, PlanRow, Plan, PlanAction } from "./types.js";
export { createPolicy, PolicyConfigSchema, POLICY_NAMES, type SplitPolicyLike, type PolicyConfig, type PolicyConfigInput } from "./policies.js";
