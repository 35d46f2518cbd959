// The global builtins (SPEC §5.1–5.4): print, table helpers, exit, system facts and the
// event helpers, inside and outside an event context.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import t from 'tap';
import { ExitSignal } from '../../../src/vm/errors';
import { fromBigInt } from '../../../src/vm/value';
import { fakeEvent, fakeRuntime } from './fake-runtime';

t.test('print', async (t) => {
  const { builtin, recorded } = fakeRuntime();
  t.equal(builtin('print')('n', 3, undefined, true), undefined);
  builtin('print')();
  t.same(recorded.prints, [['n', 3, undefined, true], []]);
  t.equal(recorded.text, 'n\t3\tnil\ttrue\n\n');
});

t.test('pairs, len, delete', async (t) => {
  const { builtin, failure, rt } = fakeRuntime();
  const table = rt.newTable();
  table.set('a', 1);
  table.set(1, 'x');
  t.equal(builtin('pairs')(table), table);
  t.equal(failure('pairs', 'x'), 'wrong type of argument 1');
  t.equal(failure('pairs'), 'wrong type of argument 1');
  t.equal(builtin('len')(table), 2);
  t.equal(builtin('len')('h\xc3\xa9llo'), 6, 'bytes');
  t.equal(builtin('len')(''), 0);
  t.equal(failure('len', 5), 'cannot get length of type number');
  t.equal(failure('len'), 'cannot get length of type nil');
  t.equal(failure('len', builtin('len')), 'cannot get length of type function');
  t.equal(builtin('delete')(table), undefined);
  t.equal(table.length, 0);
  t.equal(failure('delete', 'x'), 'wrong type of argument 1');
});

t.test('exit unwinds the run', async (t) => {
  const { builtin } = fakeRuntime();
  t.throws(() => builtin('exit')(1, 2), ExitSignal);
});

t.test('stringof', async (t) => {
  const { builtin, rt } = fakeRuntime();
  t.equal(builtin('stringof')(fromBigInt(-(1n << 63n))), '-9223372036854775808');
  t.equal(builtin('stringof')(), 'nil');
  t.equal(builtin('stringof')(false), 'false');
  t.match(builtin('stringof')(rt.newTable()), /^table 0x[0-9a-f]+$/);
  t.match(builtin('stringof')(builtin('stringof')), /^cfunction 0x[0-9a-f]+$/);
});

t.test('system facts', async (t) => {
  const { builtin } = fakeRuntime();
  t.equal(builtin('arch')(), os.machine());
  t.equal(builtin('kernel_v')(), os.release());
  const cpus = builtin('num_cpus')();
  t.equal(typeof cpus, 'number');
  t.ok((cpus as number) >= 1);
  t.equal(builtin('in_iowait')(), 0);
});

t.test('in_interrupt', async (t) => {
  const { builtin, rt } = fakeRuntime();
  t.equal(builtin('in_interrupt')(), 0, 'outside events');
  rt.event = fakeEvent({ inInterrupt: () => true });
  t.equal(builtin('in_interrupt')(), 1);
  rt.event = fakeEvent({ inInterrupt: () => false });
  t.equal(builtin('in_interrupt')(), 0);
  rt.event = fakeEvent({ kind: 'timer', inInterrupt: () => true });
  t.equal(builtin('in_interrupt')(), 0, 'timer handlers');
});

t.test('unsupported and kernel memory', async (t) => {
  const { builtin, failure } = fakeRuntime();
  t.equal(failure('curr_taskinfo', 0, 4), 'curr_taskinfo is not supported');
  t.equal(builtin('kernel_string')('abc'), 'abc');
  t.equal(failure('kernel_string', 0x1000), 'kernel_string cannot read kernel memory; use a :string fetch argument');
  t.equal(failure('kernel_string', true), 'wrong type of argument 1');
});

t.test('user_string', async (t) => {
  const { builtin, failure, rt } = fakeRuntime();
  t.equal(builtin('user_string')('fetched'), 'fetched', 'strings unchanged');
  t.equal(builtin('user_string')(0x1000), '', 'outside events');
  t.equal(failure('user_string'), 'wrong type of argument 1');
  rt.event = fakeEvent({ pid: 0x7fffffff });
  t.equal(builtin('user_string')(0x1000), '', 'a task that is gone');
  rt.event = fakeEvent();
  t.equal(builtin('user_string')(0), '', 'an unmapped address');
  t.equal(builtin('user_string')(-1), '', 'the top of the address space');

  // The first mapping of a file at offset 0 starts with its ELF header; a NUL follows soon.
  const elf = readFileSync('/proc/self/maps', 'latin1').split('\n')
    .map((line) => line.split(/\s+/))
    .find((fields) => fields[2] === '00000000' && fields[5]?.startsWith('/') && fields[1].startsWith('r'));
  if (elf !== undefined) {
    const start = fromBigInt(BigInt('0x' + elf[0].split('-')[0]));
    const text = builtin('user_string')(start) as string;
    t.match(text, /^\x7fELF[^\0]{0,12}$/, 'memory of the event task, up to the NUL');
  }
});

t.test('join', async (t) => {
  const { builtin, failure, rt } = fakeRuntime();
  t.equal(builtin('join')(0x1000), '', 'outside events');
  t.equal(failure('join', 'x'), 'wrong type of argument 1');
  t.equal(failure('join', 1, 2), 'wrong type of argument 2');
  const captured = { strings: ['ls', '-l', ''], more: false };
  rt.event = fakeEvent({ capturedArgv: (address: bigint) => (address === 0x5000n ? captured : undefined) });
  t.equal(builtin('join')(0x5000), 'ls -l ', 'the strings captured at the event, joined by a space');
  t.equal(builtin('join')(0x5000, ', '), 'ls, -l, ');
  captured.more = true;
  t.equal(builtin('join')(0x5000, ','), 'ls,-l,,...', 'an array longer than was captured ends in ...');
  t.equal(failure('join', 0x5000, 'x'.repeat(rt.maxString / 2)), 'string too long', 'held to --max-string');
  rt.event = fakeEvent({ kind: 'timer' });
  t.equal(builtin('join')(0x5000), '', 'timer handlers');

  // Not captured: the array in the process's memory, or its command line when that memory is gone.
  const args = ['30', ...Array.from({ length: 20 }, () => '0')];
  const child = spawn('sleep', args, { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.once('spawn', resolve));
  let stack = 0n;
  // The exec is done when /proc/PID/cmdline is sleep's: its stack then starts with argc, argv.
  for (let tries = 0; tries < 200 && stack === 0n; tries++) {
    if (readFileSync(`/proc/${child.pid}/cmdline`, 'latin1').startsWith('sleep\0')) stack = BigInt(readFileSync(`/proc/${child.pid}/stat`, 'latin1').split(') ')[1]!.split(' ')[25]!);
    else await new Promise((resolve) => setTimeout(resolve, 5));
  }
  rt.event = fakeEvent({ pid: child.pid! });
  const expected = ['sleep', ...args].slice(0, 16);
  t.equal(builtin('join')(fromBigInt(stack + 8n)), [...expected, '...'].join(' '), 'argv from the process\'s memory');
  t.equal(builtin('join')(fromBigInt(stack + 8n + 17n * 8n), '|'), '0|0|0|0|0', 'from the 18th pointer on: the last five of 22');
  t.equal(builtin('join')(0x1000), [...expected, '...'].join(' '), 'an array that cannot be read: the command line now');
  t.equal(builtin('join')(0), '', 'a NULL array');
  rt.event = fakeEvent({ pid: 0x7fffffff });
  t.equal(builtin('join')(0x1000), '', 'a task that is gone');
});

t.test('stack and ustack', async (t) => {
  const { builtin, failure, rt } = fakeRuntime();
  t.equal(builtin('stack')(), '', 'outside events');
  t.equal(builtin('ustack')(), '');
  rt.event = fakeEvent();
  t.equal(builtin('stack')(), '', 'an event without a stack');
  const frames = Array.from({ length: 60 }, (_, index) => `f${index}+0x0/0x10`);
  rt.event = fakeEvent({ kernelStack: () => frames, userStack: () => ['0x401000 (/bin/true)'] });
  const lines = (value: unknown) => (value as string).split('\n').slice(0, -1);
  t.same(lines(builtin('stack')()), frames.slice(0, 10), 'depth 10 by default');
  t.same(lines(builtin('stack')(3, 2)), frames.slice(2, 5));
  t.same(lines(builtin('stack')(-1)), frames.slice(0, 50), 'negative means 50');
  t.same(lines(builtin('stack')(99)), frames.slice(0, 50), 'at most 50');
  t.equal(builtin('stack')(0), '');
  t.equal(builtin('stack')(5, 100), '');
  t.equal(builtin('stack')(2, -3), 'f0+0x0/0x10\nf1+0x0/0x10\n', 'a negative skip skips nothing');
  t.equal(builtin('ustack')(), '0x401000 (/bin/true)\n');
  t.equal(failure('stack', 'x'), 'wrong type of argument 1');
  t.equal(failure('ustack', 1, 'x'), 'wrong type of argument 2');
});

t.test('ipof', async (t) => {
  const { builtin, failure } = fakeRuntime({ symbols: new Map([[0xffffffff81000000n, 'startup_64']]) });
  t.equal(builtin('ipof')(fromBigInt(0xffffffff81000000n)), 'startup_64');
  t.equal(builtin('ipof')(255), '0xff');
  t.equal(failure('ipof', '0x10'), 'wrong type of argument 1');
});
