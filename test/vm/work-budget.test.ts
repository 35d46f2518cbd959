// Budgets that bound time (issue #11): work inside builtins is charged to the instruction
// budget, event variables outside events read the system once per run, long string keys
// stay fast, and table entries are counted exactly (dead tables give theirs back at once).

import t from 'tap';
import { compile } from '../../src/compiler';
import { ExitSignal, RuntimeError } from '../../src/vm/errors';
import { makeGlobals } from '../../src/vm/lib/index';
import { DEFAULT_LIMITS, type Limits } from '../../src/vm/limits';
import { Runtime, type EventContext, type OutputSink, type RuntimeHost } from '../../src/vm/runtime';
import { translate } from '../../src/vm/translate';
import type { KFunction } from '../../src/vm/value';
import { GLOBAL_NAMES } from '../../src/vm/lib/index';

interface Script {
  rt: Runtime;
  main: KFunction;
  handlers: KFunction[];
  output: string[];
  reads: { cpu: number; execname: number };
  /** Runs main (or a handler) as the session would; returns the runtime error text, if any. */
  run(fn: KFunction, mainThread?: boolean): string | undefined;
}

function load(source: string, limits: Partial<Limits> = {}): Script {
  const output: string[] = [];
  const out: OutputSink = {
    print: (values) => output.push(values.join('\t')),
    printf: (text) => output.push(text),
    hist: (_rows, _more, text) => output.push(text),
    buckets: (_kind, _buckets, text) => output.push(text),
    error: (message) => output.push(`error: ${message}`),
  };
  const handlers: KFunction[] = [];
  const reads = { cpu: 0, execname: 0 };
  const host: RuntimeHost = {
    registerHandler: (_kind, _header, fn) => handlers.push(fn),
    tracer: {
      cpu: () => ++reads.cpu && 1,
      pid: 1, tid: 1, uid: 0,
      get execname() { reads.execname++; return 'ktap'; },
    },
    kernelSymbol: () => undefined,
    traceClockNs: () => 0n,
  };
  const rt = new Runtime({ ...DEFAULT_LIMITS, ...limits }, out, host);
  const main = translate(compile(source, 'budget.kp', { globals: GLOBAL_NAMES }).main, rt, makeGlobals(rt, rt.newTable()))([]);
  const tick: EventContext = {
    kind: 'timer', probename: 'tick-10ms', cpu: 0, pid: 1, tid: 1, uid: () => 0, execname: () => 'ktap',
    arg: () => undefined, argstr: () => '', field: () => undefined, wallTimeNs: () => 0n, inInterrupt: () => false,
  };
  return {
    rt, main, handlers, output, reads,
    run(fn, mainThread = true) {
      try {
        rt.run(fn, mainThread, mainThread ? null : tick);
        return undefined;
      } catch (error) {
        if (error instanceof RuntimeError) return error.message;
        if (error instanceof ExitSignal) return 'exit';
        throw error;
      }
    },
  };
}

const OVER_BUDGET = 'loop execute count exceed max limit(10000000)';

t.test('print_hist in a loop over a 200,000-entry table ends with the budget error', async (t) => {
  const script = load('var t = {}\nfor (i = 1, 200000) { t[i] = i }\nwhile (1) { print_hist(t, 1) }');
  t.equal(script.run(script.main), OVER_BUDGET);
  t.ok(script.output.length > 0 && script.output.length < 100, `${script.output.length} histograms printed before the budget ran out`);
});

t.test('print_hist shows the largest rows, ties in insertion order, and 990,000 entries fit the default budget', async (t) => {
  const script = load('var t = {}\nfor (i = 1, 990000) { t[i] = i % 1000 }\ntrace_end { print_hist(t, 3) }');
  t.equal(script.run(script.main), undefined);
  script.rt.phase = 'END';
  t.equal(script.run(script.handlers[0]!), undefined, 'trace_end prints a histogram of 990,000 entries');
  const rows = script.output[0]!.split('\n').slice(1, 4).map((line) => line.trim().split(/\s+/)[0]);
  t.same(rows, ['999', '1999', '2999'], 'count 999, first inserted first');
});

t.test('printing huge strings in a loop is charged by their bytes', async (t) => {
  const script = load('var s = "x"\nfor (i = 1, 20) { s = s .. s }\nwhile (1) { printf("%s", s) print(s) }');
  t.equal(script.run(script.main), OVER_BUDGET);
  t.ok(script.output.length < 400, `${script.output.length} megabyte writes before the budget ran out`);
});

t.test('cpu and execname outside events read the system once per run', async (t) => {
  const script = load('var n = 0\nwhile (1) { n += cpu n += len(execname) }');
  t.equal(script.run(script.main), OVER_BUDGET);
  t.same(script.reads, { cpu: 1, execname: 1 });
  script.run(script.main);
  t.same(script.reads, { cpu: 2, execname: 2 }, 'read again in the next run');
});

t.test('4,000 keys of 32 KiB: inserted, found, iterated and deleted', async (t) => {
  const script = load([
    'var t = {}', 'var base = "x"', 'for (i = 1, 15) { base = base .. base }',
    'for (i = 1, 4000) { t[base .. i] = i }',
    'var sum = 0', 'for (k, v in pairs(t)) { if (k == base .. v) { sum += v } }',
    'print(len(t), sum, t[base .. 77], t[base .. 4001])',
    // Each access is charged for its 32 KiB: the deletions get a run of their own.
    'trace_end { for (i = 1, 3999) { t[base .. i] = nil } for (k, v in pairs(t)) { print(len(k), v) } }',
  ].join('\n'));
  t.equal(script.run(script.main), undefined);
  script.rt.phase = 'END';
  t.equal(script.run(script.handlers[0]!), undefined);
  t.same(script.output, ['4000\t8002000\t77\t', `${32768 + 4}\t4000`]);
});

t.test('a temporary table per tick never overflows the entry limit', async (t) => {
  // Ten thousand entries per run, never more than twenty thousand live: a limit of 25,000
  // overflowed on the third run while dead tables waited for the garbage collector.
  const script = load([
    'var kept = {}', 'var latest = {}', 'var n = 0',
    'tick-10ms {',
    '  var scratch = {}', '  for (i = 1, 5000) { scratch[i] = i }',
    '  latest = {}', '  for (i = 1, 2500) { latest[i] = {i} }',
    '  kept[n % 3] = {n}', '  n += 1',
    '}',
  ].join('\n'), { maxTableEntries: 25_000 });
  const libraries = script.rt.entries.used;
  t.equal(script.run(script.main), undefined);
  for (let tick = 0; tick < 300; tick++) {
    const error = script.run(script.handlers[0]!, false);
    if (error !== undefined) return t.fail(`tick ${tick}: ${error}`);
  }
  // kept (3 entries) and its 3 tables (1 each), latest (2,500) and its tables (2,500).
  t.equal(script.rt.entries.used - libraries, 3 + 3 + 2500 + 2500, 'exactly the live entries are counted');
});

t.test('tables that stay reachable keep their entries counted', async (t) => {
  const script = load([
    'var root = {}',
    'function f() { var local = {1, 2, 3} root.x = local return 0 }',
    'tick-10ms { f() var other = {4, 5} root[other] = true }',
  ].join('\n'), { maxTableEntries: 100 });
  const libraries = script.rt.entries.used;
  t.equal(script.run(script.main), undefined);
  for (let tick = 0; tick < 10; tick++) t.equal(script.run(script.handlers[0]!, false), undefined);
  // root: x plus ten table keys; the x table: 3; ten key tables: 2 each.
  t.equal(script.rt.entries.used - libraries, 11 + 3 + 20);
});
