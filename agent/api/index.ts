/**
 * The agent's local HTTP API: POST /v1/infer (JSON tensor files or ECUT frames, sync or queued
 * under an Idempotency-Key), POST /v1/generate (tokens streamed as JSON lines), GET /v1/requests/<id>, /v1/signature, /v1/status, /healthz,
 * /readyz and Prometheus /metrics, over TCP or a unix socket. Built on the AgentCore interface
 * (agent/core/types.ts) only. The client side is sdk/infer/agent-client.ts.
 */
export { startApi, parseListen, type ApiOptions, type ApiServer, type ApiLog } from "./server.js";
export { checkInputs } from "./check-inputs.js";
export { statusForCode, RETRY_AFTER_SECONDS } from "./errors.js";
export { DEFAULT_MAX_BODY_BYTES } from "./body.js";
export { createApiMetrics, type ApiMetrics } from "./metrics.js";
