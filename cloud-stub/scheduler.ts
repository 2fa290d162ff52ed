/**
 * Backpressure: at most `concurrency` jobs run and at most `queue` wait. A job offered beyond
 * that is refused at once, so the caller answers E_BUSY without computing and the device can
 * retry later or elsewhere; an unbounded queue would only turn overload into timeouts.
 */

/** Runs jobs with bounded concurrency and a bounded FIFO queue. */
export class Scheduler<J> {
  private readonly waiting: J[] = [];
  private active = 0;
  private paused = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly queueLimit: number,
    /** Runs one job; must not reject (the caller handles its own errors). */
    private readonly run: (job: J) => Promise<void>,
  ) {}

  /** Starts the job or queues it; false (and nothing done) when the queue is full. */
  offer(job: J): boolean {
    if (!this.paused && this.active < this.concurrency) {
      this.start(job);
      return true;
    }
    if (this.waiting.length >= this.queueLimit) return false;
    this.waiting.push(job);
    return true;
  }

  /** Stops starting queued jobs (running ones finish); offered jobs queue up to the limit. */
  pause(): void {
    this.paused = true;
  }

  /** Starts queued jobs again. */
  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Jobs running now. */
  get running(): number {
    return this.active;
  }

  /** Jobs waiting to start. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves when no job runs or waits (resumes a paused scheduler so the queue drains). */
  async drain(): Promise<void> {
    this.resume();
    if (this.active === 0 && this.waiting.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private start(job: J): void {
    this.active++;
    void this.run(job).finally(() => {
      this.active--;
      this.pump();
    });
  }

  private pump(): void {
    while (!this.paused && this.active < this.concurrency && this.waiting.length > 0) this.start(this.waiting.shift()!);
    if (this.active === 0 && this.waiting.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}
