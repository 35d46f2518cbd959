// User-space interval timers for `tick-N` (SPEC §4.7): one scheduler per session, so ticks
// due at the same moment run in registration order (SPEC §3.10); ticks stay aligned to
// their start, and ticks shorter than the event loop's resolution are caught up in batches.

export interface TimerHandle {
  stop(): void;
}

/** Most overdue ticks of one timer run in one wake-up before the rest are skipped (a stalled process). */
const MAX_CATCH_UP = 1000;

interface Timer {
  readonly intervalNs: bigint;
  readonly startMonotonic: bigint;
  readonly startWall: bigint;
  readonly onTick: (dueWallTimeNs: bigint) => void;
  /** Ticks run so far; the next is due at start + (ticks + 1) × interval. */
  ticks: bigint;
  stopped: boolean;
}

export class TimerScheduler {
  /** In registration order. */
  private readonly timers: Timer[] = [];
  private wakeup: NodeJS.Timeout | null = null;

  /**
   * Calls `onTick(dueWallTimeNs)` every `intervalNs`, the first one interval after now,
   * with the wall-clock time at which the tick was due.
   */
  start(intervalNs: number, onTick: (dueWallTimeNs: bigint) => void): TimerHandle {
    const timer: Timer = {
      intervalNs: BigInt(intervalNs),
      startMonotonic: process.hrtime.bigint(),
      startWall: BigInt(Date.now()) * 1_000_000n,
      onTick,
      ticks: 0n,
      stopped: false,
    };
    this.timers.push(timer);
    this.schedule();
    return {
      stop: () => {
        timer.stopped = true;
        this.timers.splice(this.timers.indexOf(timer), 1);
        this.schedule();
      },
    };
  }

  private due(timer: Timer): bigint {
    return timer.startMonotonic + (timer.ticks + 1n) * timer.intervalNs;
  }

  private schedule(): void {
    if (this.wakeup !== null) clearTimeout(this.wakeup);
    this.wakeup = null;
    if (this.timers.length === 0) return;
    let next = this.due(this.timers[0]!);
    for (const timer of this.timers) if (this.due(timer) < next) next = this.due(timer);
    const waitMs = Number(next - process.hrtime.bigint()) / 1e6;
    this.wakeup = setTimeout(() => this.fire(), Math.max(0, waitMs));
  }

  /** Runs every due tick, earliest first, ties in registration order. */
  private fire(): void {
    this.wakeup = null;
    const now = process.hrtime.bigint();
    for (const timer of this.timers) {
      const overdue = (now - timer.startMonotonic) / timer.intervalNs - timer.ticks;
      if (overdue > BigInt(MAX_CATCH_UP)) timer.ticks += overdue - BigInt(MAX_CATCH_UP);
    }
    for (;;) {
      let earliest: Timer | undefined;
      for (const timer of this.timers) {
        if (timer.stopped || this.due(timer) > now) continue;
        if (earliest === undefined || this.due(timer) < this.due(earliest)) earliest = timer;
      }
      if (earliest === undefined) break;
      earliest.ticks++;
      earliest.onTick(earliest.startWall + earliest.ticks * earliest.intervalNs);
    }
    this.schedule();
  }
}
