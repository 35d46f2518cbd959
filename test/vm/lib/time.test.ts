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

t.test('strftime and strftime_ns: C conversions in the local zone, the event time by default', async (t) => {
  const zone = process.env.TZ;
  process.env.TZ = 'UTC';
  t.teardown(() => {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  });
  const { builtin, rt, failure } = fakeRuntime();
  const strftime = builtin('strftime');
  t.equal(strftime('%Y-%m-%d %H:%M:%S', 0), '1970-01-01 00:00:00');
  t.equal(strftime('%F %T %a %A %b %B %j %e %p %I %y %s %z %%', 1_700_000_000), '2023-11-14 22:13:20 Tue Tuesday Nov November 318 14 PM 10 23 1700000000 +0000 %');
  t.equal(strftime('%D %R %c', 1_700_000_000), '11/14/23 22:13 Tue Nov 14 22:13:20 2023');
  t.equal(builtin('strftime_ns')('%T.%N|%f', 1_700_000_000_123_456_789n), '22:13:20.123456789|123456');
  t.equal(builtin('strftime_ns')('%T.%N', -1), '23:59:59.999999999', 'before the epoch: the second before');
  rt.event = fakeEvent({ wallTimeNs: () => 1_700_000_000_500_000_000n });
  t.equal(strftime('%H:%M:%S'), '22:13:20', 'in a handler: the event time');
  t.equal(builtin('strftime_ns')('%N'), '500000000');
  t.equal(failure('strftime', '%Q', 0), "invalid conversion '%Q' to 'strftime'");
  t.equal(failure('strftime', 1, 0), 'wrong type of argument 1');
  t.equal(failure('strftime', '%T', 1n << 62n), 'time out of range for strftime');
});
