// A Runtime over a recording output sink and a scripted host, for the builtin library
// tests: builtins are looked up through makeGlobals exactly as scripts see them.

import type { HandlerKind } from '../../../src/vm/opcodes';
import { DEFAULT_LIMITS } from '../../../src/vm/limits';
import { Runtime, type EventContext, type OutputSink, type RuntimeHost } from '../../../src/vm/runtime';
import type { KTable } from '../../../src/vm/table';
import { toDisplayString, type KFunction, type Value } from '../../../src/vm/value';
import { makeGlobals } from '../../../src/vm/lib/index';

export interface Recorded {
  /** Everything written, in order, as text (print rendered with TABs). */
  text: string;
  prints: Value[][];
  hists: Array<{ rows: ReadonlyArray<{ key: Value; count: number | bigint }>; more: number; text: string }>;
  registered: Array<{ kind: HandlerKind; header: string; handler: KFunction }>;
}

export interface FakeOptions {
  /** Kernel symbols by address, for %p and ipof. */
  symbols?: ReadonlyMap<bigint, string>;
  traceClockNs?: bigint;
}

export function fakeRuntime(options: FakeOptions = {}) {
  const recorded: Recorded = { text: '', prints: [], hists: [], registered: [] };
  const out: OutputSink = {
    print(values) {
      recorded.prints.push([...values]);
      recorded.text += values.map(toDisplayString).join('\t') + '\n';
    },
    printf(text) {
      recorded.text += text;
    },
    hist(rows, more, text) {
      recorded.hists.push({ rows, more, text });
      recorded.text += text;
    },
    buckets(_kind, _buckets, text) {
      recorded.text += text;
    },
    error(message) {
      recorded.text += `error: ${message}\n`;
    },
  };
  const host: RuntimeHost = {
    registerHandler(kind, header, handler) {
      recorded.registered.push({ kind, header, handler });
    },
    tracer: { cpu: () => 0, pid: process.pid, tid: process.pid, uid: 0, execname: 'ktap' },
    kernelSymbol: (address) => options.symbols?.get(address),
    traceClockNs: () => options.traceClockNs ?? 0n,
  };
  const rt = new Runtime({ ...DEFAULT_LIMITS }, out, host);
  const arg = rt.newTable();
  const globals = makeGlobals(rt, arg);

  /** A builtin by its script name: `print` or `ansi.set_color`. */
  function builtin(name: string): KFunction {
    const [first, member] = name.split('.');
    const value = member === undefined ? globals.get(first) : (globals.get(first) as KTable).get(member);
    if (typeof value !== 'function') throw new Error(`no builtin ${name}`);
    return value;
  }

  /** Calls a builtin and returns the RuntimeError message it threw, or undefined. */
  function failure(name: string, ...args: Value[]): string | undefined {
    try {
      builtin(name)(...args);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  return { rt, recorded, globals, arg, builtin, failure };
}

/** An event context for handlers; fields not given take neutral values. */
export function fakeEvent(fields: Partial<EventContext> & Record<string, unknown> = {}): EventContext {
  return {
    kind: 'trace',
    probename: 'sys_enter_read',
    cpu: 0,
    pid: process.pid,
    tid: process.pid,
    uid: () => 0,
    execname: () => 'node',
    arg: () => undefined,
    field: () => undefined,
    argstr: () => '',
    wallTimeNs: () => 0n,
    inInterrupt: () => false,
    ...fields,
  };
}
