// The global builtin functions (SPEC §5.1–5.4): output, table helpers, session control,
// system facts and event helpers.

import os from 'node:os';
import { RuntimeError } from '../errors';
import type { Runtime } from '../runtime';
import { toDisplayString, toUint64, typeName, type Value } from '../value';
import { KTable } from '../table';
import { KTuple } from '../tuple';
import { clampInteger, numberArgument, optionalNumberArgument, stringArgument, tableArgument } from './arguments';
import { formatString, symbolOrHex } from './format';
import { checkedLength } from './string';
import { readUserArgv, readUserString } from './user-memory';
import type { BuiltinDef } from './registry';
import { WORK_COST } from '../limits';

/** Frames stack() and ustack() show without a depth (the kernel tier's stack map keeps as many). */
export const DEFAULT_STACK_DEPTH = 10;
const MAX_STACK_DEPTH = 50;

/** stack()/ustack(): `depth` frames (default 10, negative or over 50 means 50) after `skip`. */
function renderStack(frames: readonly string[] | undefined, depthValue: Value, skipValue: Value): string {
  const depthArgument = optionalNumberArgument(depthValue, 1);
  const skipArgument = optionalNumberArgument(skipValue, 2);
  if (frames === undefined) return '';
  const depth = depthArgument === undefined ? DEFAULT_STACK_DEPTH
    : depthArgument < 0 ? MAX_STACK_DEPTH : clampInteger(depthArgument, 0, MAX_STACK_DEPTH);
  const skip = skipArgument === undefined ? 0 : clampInteger(skipArgument, 0, frames.length);
  return stackText(frames.slice(skip, skip + depth));
}

/** FRAMES as stack() shows them: one a line. */
export function stackText(frames: readonly string[]): string {
  let text = '';
  for (const frame of frames) text += frame + '\n';
  return text;
}

function eventStack(rt: Runtime, which: 'kernelStack' | 'userStack'): readonly string[] | undefined {
  // Symbolizing may read /proc and ELF files the first time; charged as one system call.
  if (rt.event?.[which] !== undefined) rt.charge(WORK_COST.systemCall);
  return rt.event?.[which]?.();
}

/** What print's output costs: a row, plus its string bytes. */
function outputUnits(values: readonly Value[]): number {
  let bytes = 0;
  for (const value of values) if (typeof value === 'string') bytes += value.length;
  return WORK_COST.formattedRow + bytes / WORK_COST.bytesPerUnit;
}

/** A value computed once per runtime on first use (system facts that never change). */
function once<T>(compute: () => T): () => T {
  let cached: { value: T } | undefined;
  return () => (cached ??= { value: compute() }).value;
}

export const BASE_BUILTINS: readonly BuiltinDef[] = [
  {
    name: 'print',
    params: '(v, ...)',
    doc: 'write the values separated by TABs, then a newline',
    make: (rt) => (...values: Value[]) => {
      rt.charge(outputUnits(values));
      rt.out.print(values);
      return undefined;
    },
  },
  {
    name: 'printf',
    params: '(fmt, ...)',
    doc: 'write fmt with its %-conversions replaced by the values',
    make: (rt) => (format: Value, ...values: Value[]) => {
      const text = formatString(rt, stringArgument(format, 1), values);
      rt.charge(WORK_COST.formattedRow + text.length / WORK_COST.bytesPerUnit);
      rt.out.printf(text);
      return undefined;
    },
  },
  {
    name: 'pairs',
    params: '(t)',
    doc: 'iterator of for (k, v in pairs(t))',
    make: () => (table: Value) => tableArgument(table, 1),
  },
  {
    name: 'len',
    params: '(x)',
    doc: 'entries of a table, bytes of a string or parts of a tuple',
    make: () => (value: Value) => {
      if (typeof value === 'string') return value.length;
      if (value instanceof KTable) return value.length;
      if (value instanceof KTuple) return value.parts.length;
      throw new RuntimeError(`cannot get length of type ${typeName(value)}`);
    },
  },
  {
    name: 'delete',
    params: '(t)',
    doc: 'remove all entries of a table',
    make: () => (table: Value) => {
      tableArgument(table, 1).clear();
      return undefined;
    },
  },
  {
    name: 'exit',
    params: '()',
    doc: 'end the session (trace_end handlers still run)',
    make: (rt) => () => rt.exit(),
  },
  {
    name: 'stringof',
    params: '(v)',
    doc: 'v as print shows it',
    make: () => (value: Value) => toDisplayString(value),
  },
  {
    name: 'arch',
    params: '()',
    doc: 'machine name as uname -m gives it',
    make: () => once(() => os.machine()),
  },
  {
    name: 'host',
    params: '()',
    doc: 'the host: its label in --hosts on a fleet, else the machine\'s hostname',
    make: (rt) => once(() => rt.host.hostLabel?.() ?? os.hostname()),
  },
  {
    name: 'kernel_v',
    params: '()',
    doc: 'kernel release as uname -r gives it',
    make: () => once(() => os.release()),
  },
  {
    name: 'num_cpus',
    params: '()',
    doc: 'number of online CPUs',
    make: () => once(() => Math.max(1, os.cpus().length)),
  },
  {
    name: 'in_interrupt',
    params: '()',
    doc: '1 if the event was recorded in IRQ, softirq or NMI context, else 0',
    make: (rt) => () => (rt.event !== null && rt.event.kind === 'trace' && rt.event.inInterrupt() ? 1 : 0),
  },
  {
    name: 'in_iowait',
    params: '()',
    doc: 'always 0 (cannot be observed from user space)',
    make: () => () => 0,
  },
  {
    name: 'curr_taskinfo',
    params: '(offset [, bytes])',
    doc: 'not supported: reads kernel memory',
    make: () => () => {
      throw new RuntimeError('curr_taskinfo is not supported');
    },
  },
  {
    name: 'user_string',
    params: '(addr)',
    doc: 'NUL-terminated string at a user address of the event\'s task',
    captures: 'argString',
    make: (rt) => (address: Value) => {
      if (typeof address === 'string') return address;
      const checked = numberArgument(address, 1);
      if (rt.event === null) return '';
      rt.charge(WORK_COST.systemCall);
      return readUserString(rt.event.pid, toUint64(checked));
    },
  },
  {
    name: 'join',
    params: '(argv [, sep])',
    doc: 'the strings of a char ** array at a user address (execve\'s args.argv) joined by sep (default " ")',
    captures: 'argv',
    make: (rt) => (address: Value, separator: Value) => {
      const checked = numberArgument(address, 1);
      const between = separator === undefined ? ' ' : stringArgument(separator, 2);
      const event = rt.event;
      if (event === null || event.kind !== 'trace') return '';
      const at = toUint64(checked);
      let array = event.capturedArgv?.(at);
      if (array === undefined) {
        rt.charge(WORK_COST.systemCall);
        array = readUserArgv(event.pid, at);
      }
      return checkedLength(rt, array.more ? [...array.strings, '...'].join(between) : array.strings.join(between));
    },
  },
  {
    name: 'kernel_string',
    params: '(s)',
    doc: 'a string argument unchanged (kernel memory cannot be read)',
    make: () => (value: Value) => {
      if (typeof value === 'string') return value;
      numberArgument(value, 1);
      throw new RuntimeError('kernel_string cannot read kernel memory; use a :string fetch argument');
    },
  },
  {
    name: 'stack',
    params: '([depth [, skip]])',
    doc: 'kernel call stack recorded with the event, one frame a line',
    captures: 'kernelStack',
    make: (rt) => (depth: Value, skip: Value) => renderStack(eventStack(rt, 'kernelStack'), depth, skip),
  },
  {
    name: 'ustack',
    params: '([depth [, skip]])',
    doc: 'user-space call stack recorded with the event, one frame a line',
    captures: 'userStack',
    make: (rt) => (depth: Value, skip: Value) => renderStack(eventStack(rt, 'userStack'), depth, skip),
  },
  {
    name: 'ipof',
    params: '(addr)',
    doc: 'kernel symbol at an address, or 0x + hex',
    make: (rt) => (address: Value) => symbolOrHex(rt, numberArgument(address, 1)),
  },
];
