/**
 * The agent's configuration file: YAML or JSON, a strict zod schema with a default for every
 * optional field, EDGECUT_* environment overrides, paths resolved against the file's folder, and
 * a deep-frozen result. agent/edgecut-agent.example.yaml documents every field.
 *
 *   const cfg = loadAgentConfig("/etc/edgecut/agent.yaml");  // E_CONFIG on any problem
 *   log.info({ config: redactConfig(cfg) }, "config loaded");
 */
export { loadAgentConfig, parseAgentConfig, parseConfigText, redactConfig, deepFreeze } from "./load.js";
export { ENV_OVERRIDES, applyEnvOverrides, readPasswordFile, type Env, type EnvOverride } from "./env.js";
export { parseListenAddress, isLoopbackHost, MAX_UNIX_PATH_BYTES, type ListenAddress } from "./listen.js";
export { DEFAULT_STATE_DIR, STORE_FILE } from "./resolve.js";
export {
  AgentConfigFileSchema, ApiConfigSchema, BrokerConfigSchema, LogConfigSchema, ModelConfigSchema, OffloadConfigSchema, ProfilerConfigSchema,
  StoreConfigSchema, TelemetryConfigSchema, EMBEDDED_BROKER, LOG_LEVELS, OFFLOAD_ENCODINGS,
  type AgentConfigFile, type AgentConfigFileInput,
} from "./schema.js";
export type { AgentConfig, ApiConfig, BrokerConfig, ConfigSource } from "./types.js";
