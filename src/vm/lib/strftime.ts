// strftime and strftime_ns (docs/language.md): a time as text in the local time zone,
// with C's conversions plus %N (nanoseconds) and %f (microseconds) of strftime_ns.

import { RuntimeError } from '../errors';
import type { Runtime } from '../runtime';
import { printable } from '../quote';
import { toBigInt, type Value } from '../value';
import { optionalNumberArgument, stringArgument } from './arguments';
import type { BuiltinDef } from './registry';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
/** JS Dates reach ±8.64e15 ms; beyond that a time has no calendar date here. */
const MAX_DATE_MS = 8.64e15;

const two = (n: number): string => String(n).padStart(2, '0');

function timeZoneName(date: Date): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(date).find((p) => p.type === 'timeZoneName');
  return part?.value ?? '';
}

function offset(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  return sign + two(Math.floor(Math.abs(minutes) / 60)) + two(Math.abs(minutes) % 60);
}

function dayOfYear(date: Date): number {
  const start = new Date(date.getFullYear(), 0, 1);
  return Math.round((new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime() - start.getTime()) / 86_400_000) + 1;
}

/** `format` with its conversions replaced, for the time `nanoseconds` since the epoch. */
export function strftime(format: string, nanoseconds: bigint): string {
  const seconds = nanoseconds / 1_000_000_000n - (nanoseconds % 1_000_000_000n < 0n ? 1n : 0n);
  const fraction = nanoseconds - seconds * 1_000_000_000n;
  const milliseconds = Number(seconds) * 1000;
  if (!(Math.abs(milliseconds) <= MAX_DATE_MS)) throw new RuntimeError('time out of range for strftime');
  const date = new Date(milliseconds);
  const hour12 = date.getHours() % 12 === 0 ? 12 : date.getHours() % 12;
  const conversions: Record<string, () => string> = {
    a: () => DAYS[date.getDay()]!.slice(0, 3),
    A: () => DAYS[date.getDay()]!,
    b: () => MONTHS[date.getMonth()]!.slice(0, 3),
    h: () => MONTHS[date.getMonth()]!.slice(0, 3),
    B: () => MONTHS[date.getMonth()]!,
    c: () => expand('%a %b %e %H:%M:%S %Y'),
    C: () => two(Math.floor(date.getFullYear() / 100)),
    d: () => two(date.getDate()),
    D: () => expand('%m/%d/%y'),
    e: () => String(date.getDate()).padStart(2, ' '),
    F: () => expand('%Y-%m-%d'),
    H: () => two(date.getHours()),
    I: () => two(hour12),
    j: () => String(dayOfYear(date)).padStart(3, '0'),
    k: () => String(date.getHours()).padStart(2, ' '),
    l: () => String(hour12).padStart(2, ' '),
    m: () => two(date.getMonth() + 1),
    M: () => two(date.getMinutes()),
    n: () => '\n',
    p: () => (date.getHours() < 12 ? 'AM' : 'PM'),
    r: () => expand('%I:%M:%S %p'),
    R: () => expand('%H:%M'),
    s: () => seconds.toString(),
    S: () => two(date.getSeconds()),
    t: () => '\t',
    T: () => expand('%H:%M:%S'),
    u: () => String(date.getDay() === 0 ? 7 : date.getDay()),
    w: () => String(date.getDay()),
    x: () => expand('%m/%d/%y'),
    X: () => expand('%H:%M:%S'),
    y: () => two(date.getFullYear() % 100),
    Y: () => String(date.getFullYear()),
    z: () => offset(date),
    Z: () => timeZoneName(date),
    f: () => String(fraction / 1000n).padStart(6, '0'),
    N: () => String(fraction).padStart(9, '0'),
    '%': () => '%',
  };
  function expand(text: string): string {
    let out = '';
    for (let index = 0; index < text.length; index++) {
      if (text[index] !== '%') {
        out += text[index];
        continue;
      }
      const character = text[++index] ?? '';
      const conversion = conversions[character];
      if (conversion === undefined) throw new RuntimeError(`invalid conversion '%${printable(character)}' to 'strftime'`);
      out += conversion();
    }
    return out;
  }
  return expand(format);
}

/** The time a handler runs for (the event's, or the tick's due time), else now. */
export function eventOrNowNs(rt: Runtime, now: () => bigint): bigint {
  return rt.event === null ? now() : rt.event.wallTimeNs();
}

export function strftimeBuiltins(now: () => bigint): BuiltinDef[] {
  const define = (name: string, unit: string, nanosecondsPerUnit: bigint): BuiltinDef => ({
    name,
    params: `(fmt [, ${unit}])`,
    doc: `a time in ${unit} since the epoch (default: the event's) as text, C strftime conversions${nanosecondsPerUnit === 1n ? ' plus %f (µs) and %N (ns)' : ''}`,
    make: (rt) => (format: Value, time: Value) => {
      const text = stringArgument(format, 1);
      const given = optionalNumberArgument(time, 2);
      return strftime(text, given === undefined ? eventOrNowNs(rt, now) : toBigInt(given) * nanosecondsPerUnit);
    },
  });
  return [define('strftime', 'seconds', 1_000_000_000n), define('strftime_ns', 'nanoseconds', 1n)];
}
