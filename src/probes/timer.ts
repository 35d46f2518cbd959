// User-space interval timers for `tick-N` (SPEC §4.7): ticks stay aligned to the start
// time, and ticks shorter than the event loop's resolution are caught up in batches.

export interface TimerHandle {
  stop(): void;
}

/** Most overdue ticks run in one wake-up before the rest are skipped (a stalled process). */
const MAX_CATCH_UP = 1000;

/**
 * Calls `onTick(dueWallTimeNs)` every `intervalNs`, the first one interval after now.
 * Each call gets the wall-clock time at which its tick was due.
 */
export function startTimer(intervalNs: number, onTick: (dueWallTimeNs: bigint) => void): TimerHandle {
  const startMonotonic = process.hrtime.bigint();
  const startWall = BigInt(Date.now()) * 1_000_000n;
  const interval = BigInt(intervalNs);
  let ticks = 0n;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  const schedule = (): void => {
    if (stopped) return;
    const due = startMonotonic + (ticks + 1n) * interval;
    const waitMs = Number(due - process.hrtime.bigint()) / 1e6;
    timer = setTimeout(fire, Math.max(0, waitMs));
  };

  const fire = (): void => {
    const now = process.hrtime.bigint();
    let overdue = Number((now - startMonotonic) / interval - ticks);
    if (overdue > MAX_CATCH_UP) {
      ticks += BigInt(overdue - MAX_CATCH_UP);
      overdue = MAX_CATCH_UP;
    }
    for (let index = 0; index < overdue && !stopped; index++) {
      ticks++;
      onTick(startWall + ticks * interval);
    }
    schedule();
  };

  schedule();
  return {
    stop(): void {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}
