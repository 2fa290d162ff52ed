/** Waiting for the signals that stop a long-running command (`edgecut broker`, `edgecut cloud`). */

/**
 * Resolves on the first SIGINT or SIGTERM, so the command can stop gracefully. A second signal
 * while it stops calls `onSecond` (default: nothing) and exits the process at once with 130.
 */
export function untilSignal(onSecond: () => void = () => undefined): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: NodeJS.Signals | undefined;
    const on = (signal: NodeJS.Signals): void => {
      if (first === undefined) {
        first = signal;
        resolve(signal);
        return;
      }
      onSecond();
      process.exit(130);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}
