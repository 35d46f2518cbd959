// gettimeofday_s/ms/us/ns (SPEC §5.3) and strftime: wall-clock time since the epoch, the
// event's own time inside handlers so that latency scripts measure kernel time.

import { performance } from 'node:perf_hooks';
import { fromBigInt } from '../value';
import type { BuiltinDef } from './registry';
import { eventOrNowNs, strftimeBuiltins } from './strftime';

/**
 * Now in nanoseconds since the epoch. Node offers no clock_gettime(CLOCK_REALTIME); the
 * time origin plus the monotonic offset gives microsecond resolution (a double holds
 * milliseconds since the epoch only to about a microsecond).
 */
function nowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}


function clock(suffix: string, unit: string, nanosecondsPerUnit: bigint): BuiltinDef {
  return {
    name: `gettimeofday_${suffix}`,
    params: '()',
    doc: `wall-clock time since the epoch in ${unit} (the event's time in a handler)`,
    make: (rt) => () => fromBigInt(eventOrNowNs(rt, nowNs) / nanosecondsPerUnit),
  };
}

export const TIME_BUILTINS: readonly BuiltinDef[] = [
  clock('s', 'seconds', 1_000_000_000n),
  clock('ms', 'milliseconds', 1_000_000n),
  clock('us', 'microseconds', 1000n),
  clock('ns', 'nanoseconds', 1n),
  ...strftimeBuiltins(nowNs),
];
