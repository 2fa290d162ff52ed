/**
 * A progress bar for long CLI runs (live simulations, sweeps, benches), drawn on stderr and only
 * when stderr is a terminal: piped or captured output (CI logs, `--json > out.json`, tests) gets
 * nothing, so it never mixes with results.
 */

/** A progress bar (a no-op when the stream is not a terminal). */
export interface Progress {
  /** Marks `n` more steps done (default 1) and redraws. */
  tick(n?: number): void;
  /** Clears the bar. */
  done(): void;
}

/** The stream a bar draws on: what it needs of a tty.WriteStream. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): boolean;
}

const NONE: Progress = { tick: () => undefined, done: () => undefined };

/**
 * A bar of `total` steps labelled `label` on `stream` (default process.stderr), redrawn at most
 * every `minIntervalMs` (default 100) by `now` (default Date.now) so a fast loop does not flood the
 * terminal. A no-op when the stream is not a TTY or total is not positive.
 */
export function createProgress(total: number, label: string, opts: { stream?: ProgressStream; now?: () => number; minIntervalMs?: number } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (stream.isTTY !== true || !(total > 0)) return NONE;
  const now = opts.now ?? Date.now;
  const minInterval = opts.minIntervalMs ?? 100;
  let done = 0;
  let last = Number.NEGATIVE_INFINITY;
  let drawn = false;
  const draw = (): void => {
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - 20));
    const frac = Math.min(1, done / total);
    const full = Math.round(frac * width);
    stream.write(`\r${label} [${"#".repeat(full)}${"-".repeat(width - full)}] ${Math.min(done, total)}/${total}`);
    drawn = true;
  };
  return {
    tick(n = 1): void {
      done += n;
      const t = now();
      if (t - last < minInterval && done < total) return;
      last = t;
      draw();
    },
    done(): void {
      if (drawn) stream.write("\r\x1b[2K");
      drawn = false;
    },
  };
}
