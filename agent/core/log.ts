/** The logger the agent core writes to: pino's shape (object first, then message), so a pino child logger fits. */
export interface AgentLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A logger that drops everything (tests, library use). */
export const silentAgentLog: AgentLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
