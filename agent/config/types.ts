/**
 * The agent's validated configuration: the file's settings with defaults, environment overrides
 * applied and paths resolved to absolute ones. loadAgentConfig deep-freezes it.
 */
import type { NetworkEstimatorConfig } from "../network/config.js";
import type { PlannerConfig } from "../planner/config.js";
import type { PolicyConfig } from "../planner/policies.js";
import type { AgentConfigFile } from "./schema.js";
import type { ListenAddress } from "./listen.js";
import type { EnvOverride } from "./env.js";

/** The broker connection; ca/cert/key are absolute paths of readable files. */
export type BrokerConfig = Readonly<AgentConfigFile["broker"]>;

/** The local API. */
export interface ApiConfig {
  /** As written (or set by $EDGECUT_API_LISTEN); a relative unix path is resolved in `address`. */
  readonly listen: string;
  /** The parsed listen address (a unix path absolute). */
  readonly address: ListenAddress;
  readonly allowNonLoopback: boolean;
  /** Permissions of the unix socket, e.g. 0o660. */
  readonly socketMode: number;
  readonly maxBodyBytes: number;
}

/** Where the configuration came from (for logs and /v1/status; never values). */
export interface ConfigSource {
  /** The file, or the `where` given to parseAgentConfig. */
  readonly file: string;
  /** Environment variables that changed a setting (STATE_DIRECTORY when it chose stateDir). */
  readonly env: readonly (EnvOverride | "STATE_DIRECTORY")[];
}

/** The agent's configuration (see agent/edgecut-agent.example.yaml for every field's meaning). */
export interface AgentConfig {
  readonly deviceId: string;
  /** Absolute path of the split's manifest.json (not opened here: the agent loads it, E_MANIFEST). */
  readonly manifest: string;
  /** Files beside the split: the tokenizer.json (absolute, readable) for generation with text. */
  readonly model: { readonly tokenizer?: string };
  /** Absolute folder of the store. */
  readonly stateDir: string;
  /** `<stateDir>/agent.db`. */
  readonly storeFile: string;
  readonly broker: BrokerConfig;
  readonly api: ApiConfig;
  /** A shipped profile's id, or the absolute path of a profile file (loadProfile accepts both). */
  readonly profile?: string;
  readonly planner: Readonly<PlannerConfig>;
  readonly policy: Readonly<PolicyConfig>;
  readonly network: Readonly<NetworkEstimatorConfig>;
  readonly profiler: Readonly<AgentConfigFile["profiler"]>;
  readonly offload: Readonly<AgentConfigFile["offload"]>;
  readonly telemetry: Readonly<AgentConfigFile["telemetry"]>;
  readonly sampleIntervalMs: number;
  readonly planIntervalMs: number;
  readonly intraOpThreads?: number;
  readonly log: Readonly<AgentConfigFile["log"]>;
  readonly store: Readonly<AgentConfigFile["store"]>;
  readonly source: ConfigSource;
}
