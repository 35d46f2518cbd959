// Runs a proto the way a session would (main chunk, each registered handler on a made-up
// event, then trace_end), in-process with small limits; anything but a VM error escapes.

import { BufferedWriter, JsonSink, TextSink } from '../../src/session/output';
import { ExitSignal, RuntimeError } from '../../src/vm/errors';
import { makeGlobals } from '../../src/vm/lib/index';
import type { Limits } from '../../src/vm/limits';
import type { Proto } from '../../src/vm/proto';
import { Runtime, type EventContext, type RuntimeHost } from '../../src/vm/runtime';
import { translate } from '../../src/vm/translate';
import type { KFunction } from '../../src/vm/value';

/** Small enough that a run takes well under a millisecond, large enough to reach loops and tables. */
export const SANDBOX_LIMITS: Readonly<Limits> = {
  maxInstructions: 20_000,
  maxEventInstructions: 5_000,
  maxDepth: 40,
  maxTableEntries: 5_000,
  maxString: 4096,
};

/** Handlers run per program: enough to reach each kind, few enough to stay fast. */
const MAX_HANDLER_RUNS = 4;

/** A VM failure must read as one printable line (SPEC §6.2). */
function checkMessage(error: RuntimeError): void {
  if (!/^[\x20-\x7e\x80-\xff]{1,2000}$/.test(error.message) || /[\r\n]/.test(error.message)) {
    throw new Error(`runtime error message is not one printable line: ${JSON.stringify(error.message.slice(0, 200))}`);
  }
}

const FAKE_EVENT: EventContext = {
  kind: 'trace',
  probename: 'syscalls:sys_enter_openat',
  cpu: 1,
  pid: 4242,
  tid: 4243,
  uid: () => 1000,
  execname: () => 'fuzzed',
  arg: (index) => (index === 0 ? 257 : index === 2 ? 'path' : index * 0x7fff_ffff_ffff),
  argstr: () => 'dfd: 0xffffff9c, filename: 0x7ffd, flags: 0x0, mode: 0x0',
  field: (name) => (name === 'filename' ? 'path' : name === 'dfd' ? -100 : undefined),
  wallTimeNs: () => 1_700_000_000_000_000_000n,
  inInterrupt: () => false,
  kernelStack: () => ['do_sys_open+0x1a/0x80', 'entry_SYSCALL_64+0x10/0x20'],
  userStack: () => undefined,
};

/** What one sandboxed run did, for the fuzzers' tallies. */
export type RunResult = 'ok' | 'exit' | 'error';

/** Runs VM code and sorts its ending; anything but RuntimeError/ExitSignal propagates. */
function runOnce(rt: Runtime, fn: KFunction, mainThread: boolean, onError: ((message: string) => void) | undefined): RunResult {
  try {
    rt.run(fn, mainThread, mainThread ? null : FAKE_EVENT);
    return 'ok';
  } catch (error) {
    if (error instanceof ExitSignal) return 'exit';
    if (!(error instanceof RuntimeError)) throw error;
    checkMessage(error);
    onError?.(error.message);
    return 'error';
  }
}

/**
 * Links `proto` to a fresh runtime and runs it as a script would be: main, then (unless
 * main failed or exited) each trace/tick/profile handler once, then trace_end. `json`
 * picks the JSON output sink; `onError` hears the runtime error's text. Returns the first
 * non-ok ending, or 'ok'.
 */
export function runInSandbox(proto: Proto, json = false, onError?: (message: string) => void): RunResult {
  const handlers: KFunction[] = [];
  const endHandlers: KFunction[] = [];
  const writer = new BufferedWriter(-1);
  writer.redirect = () => {};
  const sink = json ? new JsonSink(writer) : new TextSink(writer);
  const host: RuntimeHost = {
    registerHandler: (kind, _header, fn) => (kind === 'trace_end' ? endHandlers : handlers).push(fn),
    tracer: { cpu: () => 0, pid: 1, tid: 1, uid: 0, execname: 'ktap' },
    kernelSymbol: (address) => (address === 0xffffffff81000000n ? 'startup_64' : undefined),
    traceClockNs: () => 123_456_789_000n,
  };
  const rt = new Runtime({ ...SANDBOX_LIMITS }, sink, host);
  const arg = rt.newTable();
  arg.set(0, 'fuzz.kp');
  arg.set(1, 42);
  const main = translate(proto, rt, makeGlobals(rt, arg))([]);
  try {
    let result = runOnce(rt, main, true, onError);
    if (result !== 'ok') return result;
    for (const handler of handlers.slice(0, MAX_HANDLER_RUNS)) {
      result = runOnce(rt, handler, false, onError);
      if (result !== 'ok') return result;
    }
    rt.phase = 'END';
    for (const handler of endHandlers) {
      result = runOnce(rt, handler, true, onError);
      if (result !== 'ok') return result;
    }
    return 'ok';
  } finally {
    writer.flush();
  }
}
