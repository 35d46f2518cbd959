// The fleet's wire protocol (docs/fleet.md): versioned JSON lines between the coordinator and
// each agent over the ssh channel, with the encoding of ktap values and a checked decoder.

import type { TierMode } from '../bpf/tier';
import { MAX_TUPLE_PARTS } from '../vm/opcodes';
import { KTuple, tuple } from '../vm/tuple';
import { MAX_SAFE, fromBigInt, type Value } from '../vm/value';

/** Bumped on any incompatible change; both sides refuse a peer speaking another version (3: tuples; 4: the REPL, paths). */
export const PROTOCOL_VERSION = 4;
/** A line longer than this is an error for its host (agents split big updates well below it). */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
/** Agents cut a table update into messages of about this many bytes of entries. */
export const UPDATE_CHUNK_BYTES = 256 * 1024;
/** Printed by the remote bootstrap when the bundle is not in its cache yet (see ssh.ts). */
export const NEED_BUNDLE_LINE = 'ktap-need-bundle';

/**
 * A ktap number, string or boolean on the wire: a JSON number while it is a safe integer,
 * `{"int":"DIGITS"}` beyond, a JSON string for a byte string (each character one byte),
 * true/false; a tuple (a multi-key table's key) as the array of its parts, a nil part as
 * null. Tables and functions never travel.
 */
export type WireValue = number | string | boolean | { readonly int: string } | ReadonlyArray<WireValue | null>;

/** Tuples nest (a key holding a key); deeper than this on the wire is not something ktap sent. */
const MAX_TUPLE_DEPTH = 16;

/** Tables in tables travel down to this many keys from the variable (t[a][b]…: a path of 8). */
export const MAX_PATH_KEYS = 8;

/** Changes of one top-level variable since the last update: a table's entries, or a scalar. */
export interface VariableUpdate {
  readonly name: string;
  /** For a table: changed entries with their current value, and keys removed. */
  readonly set?: ReadonlyArray<readonly [WireValue, WireValue]>;
  readonly del?: readonly WireValue[];
  /**
   * For tables in the table: entries below the top, by their path of keys (`t[a][b] = v`
   * is `[[a, b], v]`), changed ones with their value and removed ones. A merge applies
   * `del`, `delPath`, `set`, `setPath` in that order.
   */
  readonly setPath?: ReadonlyArray<readonly [readonly WireValue[], WireValue]>;
  readonly delPath?: ReadonlyArray<readonly WireValue[]>;
  /** For a scalar: its current value (null: nil). */
  readonly value?: WireValue | null;
}

/** Events and lost events of one CPU, totals since the agent started: [cpu, events, lost]. */
export type CpuCounts = readonly [number, number, number];
/** Runs of one handler of the agent so far: [handler id, runs]. */
export type HandlerRuns = readonly [number, number];
/** A handler an input attached on the agent: [handler id, events it covers]. */
export type AttachedHandler = readonly [number, number];

export type AgentMessage =
  | { readonly type: 'hello'; readonly protocol: number; readonly version: string; readonly pid: number; readonly node: string }
  | { readonly type: 'attached'; readonly handlers: number }
  | { readonly type: 'update'; readonly vars: readonly VariableUpdate[]; readonly cpus?: readonly CpuCounts[]; readonly probes?: readonly HandlerRuns[]; readonly last?: boolean }
  /** The REPL: the agent ran input `id`; what it attached, or why it could not. */
  | { readonly type: 'ran'; readonly id: number; readonly attached: readonly AttachedHandler[]; readonly error?: string }
  | { readonly type: 'output'; readonly text: string }
  | { readonly type: 'workload'; readonly text: string }
  | { readonly type: 'warning'; readonly message: string }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'end'; readonly reason: string };

/** The options of ktap that hold on every host: how each agent's session runs. */
export interface HostSessionOptions {
  readonly json: boolean;
  readonly verbose: boolean;
  /** -T: each event's output starts with its kernel timestamp. */
  readonly timestamps: boolean;
  /** -d: every host resolves the probes and attaches nothing. */
  readonly dryRun: boolean;
  /** -C: the CPU traced on every host. */
  readonly cpu?: number;
  readonly tier: TierMode;
  readonly traceSelf: boolean;
  readonly limits: Readonly<Record<string, number>>;
  readonly bufferSizeKb?: number;
}

export interface StartMessage extends HostSessionOptions {
  readonly type: 'start';
  readonly protocol: number;
  /** The host's label in --hosts: what host() returns there. */
  readonly label: string;
  /** The verified bytecode file, base64. */
  readonly bytecode: string;
  /** Whether the file's main function takes the script's top-level variables as session variables. */
  readonly sessionVariables: boolean;
  readonly scriptName: string;
  readonly scriptArgs: readonly string[];
  readonly intervalMs: number;
  readonly command: readonly string[];
  /** The REPL on a fleet: after `bytecode` (an empty chunk), inputs come as input messages. */
  readonly interactive?: boolean;
}

export type CoordinatorMessage =
  | StartMessage
  | { readonly type: 'stop' }
  /** The REPL: run one input (a bytecode file whose top-level variables are session variables). */
  | { readonly type: 'input'; readonly id: number; readonly bytecode: string }
  /** The REPL: detach these handlers (ids as the inputs registered them). */
  | { readonly type: 'detach'; readonly handlers: readonly number[] };

/** A message that breaks the protocol: the host that sent it has failed. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export function encodeValue(value: Value): WireValue | undefined {
  switch (typeof value) {
    case 'number': return value;
    case 'bigint': return { int: value.toString() };
    case 'string': case 'boolean': return value;
    default:
      // A tuple's parts are numbers, strings, booleans, nil or tuples (tuple.ts): all travel.
      return value instanceof KTuple ? value.parts.map((part) => (part === undefined ? null : encodeValue(part)!)) : undefined;
  }
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

export function decodeValue(wire: unknown, depth = 0): Value {
  switch (typeof wire) {
    case 'number':
      if (!Number.isSafeInteger(wire) || Math.abs(wire) > MAX_SAFE) throw new ProtocolError(`bad number ${wire}`);
      return wire;
    case 'string':
      if (/[^\x00-\xff]/.test(wire)) throw new ProtocolError('a string that is not a byte string');
      return wire;
    case 'boolean':
      return wire;
    case 'object': {
      if (Array.isArray(wire)) return decodeTuple(wire, depth);
      const digits = (wire as { int?: unknown } | null)?.int;
      if (typeof digits === 'string' && /^-?[0-9]{1,19}$/.test(digits)) {
        const big = BigInt(digits);
        if (big >= INT64_MIN && big <= INT64_MAX) return fromBigInt(big);
      }
      throw new ProtocolError('bad value');
    }
    default:
      throw new ProtocolError('bad value');
  }
}

function decodeTuple(parts: readonly unknown[], depth: number): Value {
  if (parts.length > MAX_TUPLE_PARTS || depth >= MAX_TUPLE_DEPTH) throw new ProtocolError('bad tuple');
  return tuple(...parts.map((part) => (part === null ? undefined : decodeValue(part, depth + 1))));
}

/** One line of an agent, checked field by field: ProtocolError when it is not a message of this protocol. */
export function parseAgentMessage(line: string): AgentMessage {
  let message: unknown;
  try {
    message = JSON.parse(line);
  } catch {
    throw new ProtocolError(`not a JSON line: ${excerpt(line)}`);
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) throw new ProtocolError(`not a message: ${excerpt(line)}`);
  const fields = message as Record<string, unknown>;
  const text = (name: string): string => {
    if (typeof fields[name] !== 'string') throw new ProtocolError(`${String(fields.type)} message without '${name}'`);
    return fields[name] as string;
  };
  const count = (name: string): number => {
    if (!Number.isSafeInteger(fields[name]) || (fields[name] as number) < 0) throw new ProtocolError(`${String(fields.type)} message without '${name}'`);
    return fields[name] as number;
  };
  switch (fields.type) {
    case 'hello': return { type: 'hello', protocol: count('protocol'), version: text('version'), pid: count('pid'), node: text('node') };
    case 'attached': return { type: 'attached', handlers: count('handlers') };
    case 'update': return checkUpdate(fields);
    case 'output': case 'workload': return { type: fields.type, text: text('text') };
    case 'warning': case 'error': return { type: fields.type, message: text('message') };
    case 'end': return { type: 'end', reason: text('reason') };
    case 'ran': {
      const attached = fields.attached;
      if (!Array.isArray(attached) || !attached.every((row) => isCountRow(row, 2))) throw new ProtocolError("ran message with bad 'attached'");
      if (fields.error !== undefined) text('error');
      return { type: 'ran', id: count('id'), attached: attached as AttachedHandler[], ...(fields.error === undefined ? {} : { error: fields.error as string }) };
    }
    default: throw new ProtocolError(`unknown message type ${excerpt(String(fields.type))}`);
  }
}

function checkUpdate(fields: Record<string, unknown>): AgentMessage {
  const vars = fields.vars;
  if (!Array.isArray(vars)) throw new ProtocolError("update message without 'vars'");
  for (const entry of vars as unknown[]) {
    const variable = entry as Record<string, unknown> | null;
    if (typeof variable !== 'object' || variable === null || typeof variable.name !== 'string') throw new ProtocolError('update of a variable without a name');
    if (variable.set !== undefined && !(Array.isArray(variable.set) && variable.set.every((pair) => Array.isArray(pair) && pair.length === 2))) {
      throw new ProtocolError(`update of ${excerpt(variable.name)}: bad 'set'`);
    }
    if (variable.del !== undefined && !Array.isArray(variable.del)) throw new ProtocolError(`update of ${excerpt(variable.name)}: bad 'del'`);
    if (variable.setPath !== undefined && !(Array.isArray(variable.setPath) && variable.setPath.every((pair) => Array.isArray(pair) && pair.length === 2 && isPath(pair[0])))) {
      throw new ProtocolError(`update of ${excerpt(variable.name)}: bad 'setPath'`);
    }
    if (variable.delPath !== undefined && !(Array.isArray(variable.delPath) && variable.delPath.every(isPath))) {
      throw new ProtocolError(`update of ${excerpt(variable.name)}: bad 'delPath'`);
    }
  }
  const cpus = fields.cpus;
  if (cpus !== undefined && !(Array.isArray(cpus) && cpus.every((row) => isCountRow(row, 3)))) throw new ProtocolError("update message with bad 'cpus'");
  const probes = fields.probes;
  if (probes !== undefined && !(Array.isArray(probes) && probes.every((row) => isCountRow(row, 2)))) throw new ProtocolError("update message with bad 'probes'");
  return fields as unknown as AgentMessage;
}

/** A path of keys below a variable: two keys at least (one is an ordinary entry), MAX_PATH_KEYS at most. */
function isPath(path: unknown): boolean {
  return Array.isArray(path) && path.length >= 2 && path.length <= MAX_PATH_KEYS;
}

/** An array of `length` non-negative safe integers. */
function isCountRow(row: unknown, length: number): boolean {
  return Array.isArray(row) && row.length === length && row.every((n) => Number.isSafeInteger(n) && (n as number) >= 0);
}

function excerpt(text: string): string {
  return text.length > 60 ? JSON.stringify(text.slice(0, 60)) + '…' : JSON.stringify(text);
}

/**
 * Splits a byte stream into lines, holding at most MAX_MESSAGE_BYTES of an unfinished one:
 * `onLine` for each complete line, `onOversized` once if a line grows past the limit.
 */
export class LineSplitter {
  private pending = '';
  private broken = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOversized: () => void,
    private readonly limit = MAX_MESSAGE_BYTES,
  ) {}

  push(chunk: string): void {
    if (this.broken) return;
    let start = 0;
    for (let newline = chunk.indexOf('\n'); newline >= 0; newline = chunk.indexOf('\n', start)) {
      const line = this.pending + chunk.slice(start, newline);
      this.pending = '';
      start = newline + 1;
      if (line.length > this.limit) return this.oversized();
      this.onLine(line);
      if (this.broken) return;
    }
    this.pending += chunk.slice(start);
    if (this.pending.length > this.limit) this.oversized();
  }

  /** What is left after the stream ended without a final newline. */
  rest(): string {
    return this.pending;
  }

  /** Stops delivering lines (the host has failed). */
  stop(): void {
    this.broken = true;
    this.pending = '';
  }

  private oversized(): void {
    this.stop();
    this.onOversized();
  }
}
