// gettimeofday_* (SPEC §5.3): the current time outside handlers, the event's time inside,
// as exact integers in each unit.

import t from 'tap';
import { fakeEvent, fakeRuntime } from './fake-runtime';

t.test('outside events: now', async (t) => {
  const { builtin } = fakeRuntime();
  const before = Date.now();
  const seconds = builtin('gettimeofday_s')() as number;
  const milliseconds = builtin('gettimeofday_ms')() as number;
  const microseconds = builtin('gettimeofday_us')() as number;
  const nanoseconds = builtin('gettimeofday_ns')() as bigint;
  const after = Date.now();
  t.ok(Number.isSafeInteger(seconds) && Number.isSafeInteger(milliseconds) && Number.isSafeInteger(microseconds));
  t.equal(typeof nanoseconds, 'bigint', 'nanoseconds since the epoch exceed 2^53');
  // Node's time origin is taken at start-up from two clocks read one after the other, so on
  // a busy machine it can be off from Date.now() by however long the process waited between
  // them: "now" is checked to the second, which still tells every unit from its neighbours.
  const slackMs = 1000;
  t.ok(seconds >= Math.floor((before - slackMs) / 1000) && seconds <= Math.ceil((after + slackMs) / 1000), `${seconds} s is now`);
  t.ok(milliseconds >= before - slackMs && milliseconds <= after + slackMs, `${milliseconds} ms is now`);
  t.ok(microseconds >= milliseconds * 1000 && microseconds <= (after + slackMs) * 1000, 'microseconds, read later on the same clock');
  t.ok(nanoseconds >= BigInt(microseconds) * 1000n);
});

t.test('in handlers: the event time', async (t) => {
  const { builtin, rt } = fakeRuntime();
  rt.event = fakeEvent({ wallTimeNs: () => 1_700_000_000_123_456_789n });
  t.equal(builtin('gettimeofday_s')(), 1_700_000_000);
  t.equal(builtin('gettimeofday_ms')(), 1_700_000_000_123);
  t.equal(builtin('gettimeofday_us')(), 1_700_000_000_123_456);
  t.equal(builtin('gettimeofday_ns')(), 1_700_000_000_123_456_789n);
  rt.event = fakeEvent({ kind: 'timer', wallTimeNs: () => 5_000_000_000n });
  t.equal(builtin('gettimeofday_s')(), 5);
  t.equal(builtin('gettimeofday_ns')(), 5_000_000_000, 'canonical: a number when safe');
});
