/**
 * sd_notify(3) for the agent under systemd (Type=notify, WatchdogSec=): READY=1 once it serves,
 * WATCHDOG=1 while its event loop turns, STOPPING=1 when it starts draining, STATUS=... for
 * `systemctl status`.
 *
 * Node cannot send on an AF_UNIX datagram socket, so each message is a run of `systemd-notify`.
 * Known race (sd_notify(3), systemd-notify(1)): systemd attributes a message to a unit by the
 * sender's PID, and a short-lived child may be gone before systemd reads the datagram, so the
 * message is dropped even under NotifyAccess=all. Mitigations: the unit sets NotifyAccess=all (the
 * child is not the main PID); systemd-notify (since v246) waits until systemd has processed the
 * message (a BARRIER=1 round trip; we never pass --no-block), so it is still alive when read; and
 * `--pid=<our pid>` makes it send as the agent's PID where the kernel allows (SCM_CREDENTIALS with
 * another PID needs CAP_SYS_ADMIN; otherwise it falls back to its own) and adds MAINPID=<our
 * pid>, which names the process systemd already tracks as main.
 *
 * Nothing here throws into the caller: a failed notification is logged, and the service manager's
 * timeouts (TimeoutStartSec, WatchdogSec) are what notice it.
 */
import { execFile } from "node:child_process";

/** Runs the notify command; resolves when it exited 0, rejects otherwise. */
export type NotifyExec = (file: string, args: readonly string[], env: Readonly<Record<string, string | undefined>>) => Promise<void>;

/** Options of {@link createNotifier}. */
export interface NotifierOptions {
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID come from (default process.env); the command gets it as its environment. */
  env?: Readonly<Record<string, string | undefined>>;
  /** How the command is run (default: child_process.execFile with a 10 s timeout). */
  exec?: NotifyExec;
  /** The command (default "systemd-notify", found on the PATH). */
  command?: string;
  /** This process's PID (default process.pid). */
  pid?: number;
  /** Where failures go (a pino logger's warn fits: `(o, m) => log.warn(o, m)`). Default: dropped. */
  log?: (fields: Record<string, unknown>, msg: string) => void;
}

/** Talks to systemd; every method is a no-op resolving at once when NOTIFY_SOCKET is unset. */
export interface Notifier {
  /** True when NOTIFY_SOCKET is set (running under Type=notify). */
  readonly enabled: boolean;
  /**
   * How often to call watchdog(): half of WATCHDOG_USEC (sd_watchdog_enabled(3) advises pinging
   * well within it), in ms; null when no watchdog is set for this process or NOTIFY_SOCKET is unset.
   */
  readonly watchdogIntervalMs: number | null;
  /** READY=1 (and MAINPID): start-up is done. */
  ready(): Promise<void>;
  /** WATCHDOG=1: still alive. */
  watchdog(): Promise<void>;
  /** STOPPING=1: shutting down (draining). */
  stopping(): Promise<void>;
  /** STATUS=<text> (one line; control characters become spaces, at most 400 characters). */
  status(text: string): Promise<void>;
}

/** Longest STATUS text sent; `systemctl status` shows one line anyway. */
export const MAX_STATUS_CHARS = 400;

/** Kill a systemd-notify still waiting after this long (its own barrier wait is 5 s). */
const EXEC_TIMEOUT_MS = 10_000;

const defaultExec: NotifyExec = (file, args, env) => new Promise((resolve, reject) => {
  execFile(file, [...args], { env: env as NodeJS.ProcessEnv, timeout: EXEC_TIMEOUT_MS, killSignal: "SIGKILL" }, (err, _stdout, stderr) => {
    if (err === null) return resolve();
    const detail = String(stderr).trim();
    reject(new Error(detail === "" ? err.message : `${err.message}: ${detail}`));
  });
});

/**
 * Half of WATCHDOG_USEC in ms when it is a positive integer and WATCHDOG_PID is unset or this
 * process's PID (systemd sets WATCHDOG_PID to the main PID; a child that inherited the variables
 * must not ping for it); otherwise null.
 */
export function watchdogIntervalFromEnv(env: Readonly<Record<string, string | undefined>>, pid: number): number | null {
  const usecText = env.WATCHDOG_USEC;
  if (usecText === undefined || !/^\d+$/.test(usecText)) return null;
  const usec = Number(usecText);
  if (!Number.isSafeInteger(usec) || usec <= 0) return null;
  const wpid = env.WATCHDOG_PID;
  if (wpid !== undefined && wpid !== "" && wpid !== String(pid)) return null;
  return usec / 2 / 1000;
}

/** STATUS text made safe: a newline would start another variable in the datagram. */
export function sanitizeStatus(text: string): string {
  // eslint-disable-next-line no-control-regex
  const one = String(text).replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return one.length > MAX_STATUS_CHARS ? `${one.slice(0, MAX_STATUS_CHARS - 1)}…` : one;
}

/** Builds the notifier (see the module comment). */
export function createNotifier(opts: NotifierOptions = {}): Notifier {
  const env = opts.env ?? process.env;
  const pid = opts.pid ?? process.pid;
  const exec = opts.exec ?? defaultExec;
  const command = opts.command ?? "systemd-notify";
  const log = opts.log ?? ((): void => undefined);
  const socket = env.NOTIFY_SOCKET;
  const enabled = socket !== undefined && socket !== "";
  const watchdogIntervalMs = enabled ? watchdogIntervalFromEnv(env, pid) : null;

  // One message at a time, in call order: a STATUS must not overtake the READY before it.
  let tail: Promise<void> = Promise.resolve();
  // Repeated identical failures (a watchdog ping every few seconds) are logged once until a success.
  let lastFailure: string | undefined;

  const send = (what: string, args: string[]): Promise<void> => {
    if (!enabled) return Promise.resolve();
    const run = async (): Promise<void> => {
      try {
        await exec(command, [...args, `--pid=${pid}`], env);
        lastFailure = undefined;
      } catch (e) {
        const message = (e as Error)?.message ?? String(e);
        if (message !== lastFailure) {
          lastFailure = message;
          const hint = /ENOENT/.test(message) ? ` (${command} not found: install systemd, or run without NOTIFY_SOCKET)` : "";
          log({ component: "systemd", notify: what, err: message }, `systemd notification ${what} failed${hint}`);
        }
      }
    };
    tail = tail.then(run);
    return tail;
  };

  return {
    enabled,
    watchdogIntervalMs,
    ready: () => send("READY=1", ["--ready"]),
    watchdog: () => send("WATCHDOG=1", ["WATCHDOG=1"]),
    stopping: () => send("STOPPING=1", ["STOPPING=1"]),
    status: (text: string) => send("STATUS", [`--status=${sanitizeStatus(text)}`]),
  };
}
