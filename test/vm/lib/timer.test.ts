// The timer library and the interval parser shared with the compiler (SPEC §2.4, §5.6).

import t from 'tap';
import { parseInterval } from '../../../src/syntax/headers';
import { fakeRuntime } from './fake-runtime';

t.test('parseInterval', async (t) => {
  t.equal(parseInterval('1s'), 1e9);
  t.equal(parseInterval('5sec'), 5e9);
  t.equal(parseInterval('250ms'), 250e6);
  t.equal(parseInterval('10msec'), 10e6);
  t.equal(parseInterval('100us'), 100e3);
  t.equal(parseInterval('1usec'), 1e3);
  t.equal(parseInterval('007ms'), 7e6, 'leading zeros');
  t.equal(parseInterval('86400s'), 86400e9);
  for (const bad of ['', 's', '0s', '0ms', '1', '10', '1m', '1min', '1ns', '1 s', ' 1s', '1s ', '-1s', '+1s',
    '1.5s', '0x10ms', '1S', '1MS', '1s1', 'abc', '99999999999999999999s', '9007199254740992us']) {
    t.equal(parseInterval(bad), undefined, JSON.stringify(bad));
  }
});

t.test('timer.tick and timer.profile register like tick-N and profile-N', async (t) => {
  const { builtin, recorded } = fakeRuntime();
  const handler = () => undefined;
  t.equal(builtin('timer.tick')('250ms', handler), undefined);
  builtin('timer.profile')('1ms', handler);
  t.same(recorded.registered, [
    { kind: 'tick', header: 'tick-250ms', handler },
    { kind: 'profile', header: 'profile-1ms', handler },
  ]);
});

t.test('errors', async (t) => {
  const { failure, rt, recorded } = fakeRuntime();
  const handler = () => undefined;
  t.equal(failure('timer.tick', '1x', handler), 'cannot parse timer interval: 1x');
  t.equal(failure('timer.profile', '0s', handler), 'cannot parse timer interval: 0s');
  t.equal(failure('timer.tick', 5, handler), 'wrong type of argument 1');
  t.equal(failure('timer.tick', '1s', 'f'), 'wrong type of argument 2');
  t.equal(failure('timer.tick', '1s'), 'wrong type of argument 2');
  rt.mainThread = false;
  t.equal(failure('timer.tick', '1s', handler), 'timer.tick only can be called in mainthread');
  rt.mainThread = true;
  rt.phase = 'END';
  t.equal(failure('timer.profile', '1s', handler), 'timer.profile only can be called in RUNNING state');
  t.same(recorded.registered, []);
});
