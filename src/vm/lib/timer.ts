// The timer library (SPEC §5.6) and THE parser of timer intervals (SPEC §2.4), shared with
// the compiler's `tick-N`/`profile-N` headers.

import { RuntimeError } from '../errors';
import { handlerRegistrar } from './kdebug';
import type { BuiltinDef } from './registry';

const NANOSECONDS_PER_UNIT: Readonly<Record<string, number>> = {
  s: 1e9, sec: 1e9, ms: 1e6, msec: 1e6, us: 1e3, usec: 1e3,
};

/**
 * An interval such as `250ms` in nanoseconds: decimal digits (value ≥ 1) directly followed
 * by s, sec, ms, msec, us or usec, nothing else (callers trim raw header text first).
 * Undefined when malformed, and for intervals beyond 2^53 ns (over 104 days), which no
 * timer could honour exactly.
 */
export function parseInterval(text: string): number | undefined {
  const match = /^([0-9]+)(s|sec|ms|msec|us|usec)$/.exec(text);
  if (match === null) return undefined;
  const nanoseconds = Number(match[1]) * NANOSECONDS_PER_UNIT[match[2]];
  return nanoseconds >= 1 && Number.isSafeInteger(nanoseconds) ? nanoseconds : undefined;
}

/** `timer.tick`/`timer.profile`: the header `KIND-INTERVAL`, once the interval parses. */
function timerRegistrar(kind: 'tick' | 'profile', doc: string): BuiltinDef {
  return handlerRegistrar({ library: 'timer', name: kind, params: '(interval, f)', doc, kind }, (interval) => {
    if (parseInterval(interval) === undefined) throw new RuntimeError(`cannot parse timer interval: ${interval}`);
    return `${kind}-${interval}`;
  });
}

export const TIMER_BUILTINS: readonly BuiltinDef[] = [
  timerRegistrar('tick', 'run f once per interval ("250ms", "1s", …), like tick-N'),
  timerRegistrar('profile', 'run f about once per interval on each busy CPU, like profile-N'),
];
