/** The device agent's network estimator: RTT and bandwidth to the cloud from offload round trips. */
export { NetworkEstimator, type NetworkEstimate, type NetworkEstimateDetail, type NetworkObservation, type NetworkEstimatorOptions, type EstimateBasis } from "./estimator.js";
export { NetworkEstimatorConfigSchema, parseNetworkConfig, type NetworkEstimatorConfig, type NetworkEstimatorConfigInput } from "./config.js";
