/**
 * `edgecut agent --config <file>`: the device agent service (agent/service/service.ts) until
 * SIGINT/SIGTERM, as the systemd unit agent/systemd/edgecut-agent.service runs it. `--check`
 * validates the configuration and prints it (password redacted) without starting anything.
 */
import type { Command } from "commander";
import { createLogger } from "../../cloud-stub/log.js";
import { loadAgentConfig, redactConfig } from "../../agent/config/index.js";
import { startAgentService } from "../../agent/service/service.js";
import { POLICY_NAMES } from "../../agent/planner/policies.js";
import { fail } from "../errors.js";
import { printJson } from "./output.js";
import { untilSignal } from "./signals.js";

interface AgentFlags {
  config: string;
  policy?: string;
  check?: boolean;
  jsonLogs?: boolean;
  profile: boolean;
}

/** Registers `edgecut agent`. */
export function registerAgent(program: Command): void {
  program.command("agent")
    .description("run the device agent: plan the split, run the front, offload the rest, serve the local API, until SIGINT/SIGTERM")
    .requiredOption("--config <file>", "agent configuration (YAML or JSON); see agent/edgecut-agent.example.yaml")
    .option("--check", "validate the configuration, print it (secrets redacted) and exit")
    .option("--json-logs", "log JSON lines (pino; what journald and log shippers read) instead of text lines")
    .option("--policy <name>", `split policy, overriding the config's policy.name: ${POLICY_NAMES.join(", ")} (static needs policy.split in the config)`)
    .option("--no-profile", "skip profiling the segments at start (predict from FLOPs until requests are measured)")
    .addHelpText("after", [
      "",
      "Environment overrides (secrets, fleet roll-out): EDGECUT_DEVICE_ID, EDGECUT_BROKER_URL, EDGECUT_BROKER_USERNAME,",
      "EDGECUT_BROKER_PASSWORD, EDGECUT_BROKER_PASSWORD_FILE, EDGECUT_API_LISTEN, EDGECUT_LOG_LEVEL.",
      "Under systemd (Type=notify) it reports READY=1 once the API serves and pings the watchdog;",
      "SIGTERM stops accepting, finishes in-flight requests, flushes the store and exits 0.",
      "Install guide: docs/agent-service.md.",
      "",
      "Example:",
      "  edgecut agent --config /etc/edgecut/agent.yaml",
      "  curl -s localhost:8787/v1/status",
    ].join("\n"))
    .action(async (flags: AgentFlags) => {
      let cfg = loadAgentConfig(flags.config);
      if (flags.policy !== undefined) {
        if (!(POLICY_NAMES as readonly string[]).includes(flags.policy)) throw fail("E_USAGE", `--policy ${flags.policy}: expected one of ${POLICY_NAMES.join(", ")}`);
        const policy = { ...cfg.policy, name: flags.policy as (typeof POLICY_NAMES)[number] };
        if (policy.name === "static" && policy.split === undefined) throw fail("E_USAGE", "--policy static needs policy.split in the config (the split point to hold)");
        cfg = Object.freeze({ ...cfg, policy: Object.freeze(policy) });
      }
      if (flags.check === true) {
        printJson(redactConfig(cfg));
        return;
      }
      const logger = createLogger({ json: flags.jsonLogs ?? false, level: cfg.log.level });
      const service = await startAgentService(cfg, { log: logger, profile: flags.profile });
      const signal = await untilSignal(() => logger.warn("second signal: exiting without finishing in-flight work"));
      logger.info({ signal }, "signal received");
      await service.stop();
    });
}
