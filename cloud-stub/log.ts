/**
 * The worker's logger: pino, one JSON object per line (what log shippers read), or the same
 * records as short text lines for a person at a terminal. Written synchronously to stderr by
 * default, so the last lines before an exit are never lost; a test passes its own stream (or a
 * silent logger) instead.
 */
import { pino, type DestinationStream, type Level, type Logger } from "pino";

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** JSON lines (true) or text lines (false, default). */
  json?: boolean;
  /** Lowest level written (default "info"). */
  level?: Level | "silent";
  /** Where lines go (default: stderr, synchronously). */
  destination?: DestinationStream;
}

/** pino's numeric levels, for the text form. */
const LEVEL_NAMES: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
/** Fields the text form shows in its own way (or not at all). */
const HIDDEN = new Set(["level", "time", "msg", "pid", "hostname", "name"]);

/** A text value: strings bare when they have no spaces or quotes, everything else as JSON. */
function textValue(v: unknown): string {
  return typeof v === "string" && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
}

/** Formats one pino JSON line as `time LEVEL message key=value ...`. */
export function formatTextLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith("\n") ? line : `${line}\n`;
  }
  const level = LEVEL_NAMES[Number(rec.level)] ?? String(rec.level);
  const fields = Object.entries(rec).filter(([k]) => !HIDDEN.has(k)).map(([k, v]) => `${k}=${textValue(v)}`);
  return `${String(rec.time ?? "")} ${level.padEnd(5)} ${String(rec.msg ?? "")}${fields.length ? ` ${fields.join(" ")}` : ""}\n`;
}

/** A destination that rewrites pino's JSON lines as text lines into `out`. */
function textDestination(out: DestinationStream): DestinationStream {
  return { write: (line: string) => out.write(formatTextLine(line)) };
}

/** The worker's root logger (name "edgecut-cloud", ISO timestamps); components take child loggers of it. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const sink = opts.destination ?? pino.destination({ dest: 2, sync: true });
  return pino(
    { name: "edgecut-cloud", level: opts.level ?? "info", timestamp: pino.stdTimeFunctions.isoTime, base: { pid: process.pid } },
    opts.json ? sink : textDestination(sink),
  );
}
