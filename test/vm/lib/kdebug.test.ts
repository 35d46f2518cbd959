// The kdebug library (SPEC §5.6): headers given to the host and the registration checks
// of SPEC §3.10.

import t from 'tap';
import { fakeRuntime } from './fake-runtime';

t.test('registration headers', async (t) => {
  const { builtin, recorded } = fakeRuntime();
  const handler = () => undefined;
  t.equal(builtin('kdebug.kprobe')('vfs_read', handler), undefined);
  builtin('kdebug.tracepoint')('sys_enter_openat', handler);
  builtin('kdebug.tracepoint')('sched:sched_switch', handler);
  builtin('kdebug.trace_end')(handler);
  t.same(recorded.registered, [
    { kind: 'trace', header: 'probe:vfs_read', handler },
    { kind: 'trace', header: '*:sys_enter_openat', handler },
    { kind: 'trace', header: 'sched:sched_switch', handler },
    { kind: 'trace_end', header: 'trace_end', handler },
  ]);
});

t.test('errors', async (t) => {
  const { failure, rt, recorded } = fakeRuntime();
  const handler = () => undefined;
  t.equal(failure('kdebug.trace_by_id', 1, handler), 'kdebug.trace_by_id is not supported, use trace');
  t.equal(failure('kdebug.kprobe', 1, handler), 'wrong type of argument 1');
  t.equal(failure('kdebug.kprobe', 'vfs_read'), 'wrong type of argument 2');
  t.equal(failure('kdebug.tracepoint', undefined, handler), 'wrong type of argument 1');
  t.equal(failure('kdebug.trace_end', 'f'), 'wrong type of argument 1');

  rt.mainThread = false;
  t.equal(failure('kdebug.kprobe', 'vfs_read', handler), 'kdebug.kprobe only can be called in mainthread');
  t.equal(failure('kdebug.trace_end', handler), undefined, 'trace_end may be registered from a handler');
  rt.mainThread = true;
  rt.phase = 'END';
  t.equal(failure('kdebug.tracepoint', 'sys_enter_read', handler),
    'kdebug.tracepoint only can be called in RUNNING state');
  t.equal(failure('kdebug.trace_end', handler), 'kdebug.trace_end only can be called in RUNNING state');
  t.equal(recorded.registered.length, 1);
});
