// The syntax of handler headers (SPEC §4.1–4.7): EVENTSPEC after `trace`, the intervals of
// `tick-N` and `profile-N`, one row per probe kind. Pure text: the compiler, the VM's timer
// library and the probes import it; what a definition selects on the running kernel, and how
// it is attached, is the row of the same kind in src/probes/sources.ts.

import { firstLine } from '../errors';

/** The probe kinds; each has a row here (its syntax) and one in src/probes/sources.ts. */
export type ProbeKind = EventDefinition['kind'];

/** One parsed definition: an EVENTDEF of a `trace` header, or a timer header. */
export type EventDefinition =
  | { kind: 'tracepoint'; text: string; system: string; event: string }
  | { kind: 'syscall'; text: string; system: string; event: string }
  | { kind: 'ftrace'; text: string }
  | { kind: 'kprobe'; text: string; symbol: string; isReturn: boolean; fetchArgs: string }
  | { kind: 'uprobe'; text: string; path: string; target: string; isReturn: boolean; fetchArgs: string }
  | { kind: 'sdt'; text: string; path: string; provider: string; name: string }
  | { kind: 'tick'; text: string; intervalNs: number }
  | { kind: 'profile'; text: string; intervalNs: number };

export type DefinitionOf<K extends ProbeKind> = Extract<EventDefinition, { kind: K }>;

export interface EventSpec {
  readonly definitions: readonly EventDefinition[];
  /** Text between the slashes, installed verbatim as the kernel filter. */
  readonly filter?: string;
}

/** The handler kinds a header belongs to (trace_end has no header to parse). */
export type HeaderKind = 'trace' | 'tick' | 'profile';

/** One probe kind's syntax. */
export interface ProbeSyntax {
  readonly kind: ProbeKind;
  /** `trace PREFIX:…` definitions, or the timer header `PREFIX-INTERVAL`. */
  readonly header: HeaderKind;
  /**
   * The text before the first `:` (or `-` of a timer) that selects this kind; null: any
   * prefix no other row claims. Rows sharing a prefix are tried in table order.
   */
  readonly prefix: string | null;
  /** After the prefix an absolute PATH and its `:` may come before the probe target. */
  readonly pathFirst: boolean;
  /** The form users write (help, documentation). */
  readonly form: string;
  /** TEXT is the whole definition, REST what follows the prefix and its separator. */
  parse(text: string, rest: string): EventDefinition | undefined;
}

const NANOSECONDS_PER_UNIT: Readonly<Record<string, number>> = {
  s: 1e9, sec: 1e9, ms: 1e6, msec: 1e6, us: 1e3, usec: 1e3,
};

/**
 * THE parser of timer intervals (SPEC §2.4): `250ms` in nanoseconds — decimal digits (value
 * ≥ 1) directly followed by s, sec, ms, msec, us or usec, or a rate in hz (`99hz`: every
 * 1/99 s, rounded to the ns, as perf's -F and bpftrace's profile:hz), nothing else.
 * Undefined when malformed, and beyond 2^53 ns (over 104 days), which no timer could honour.
 */
export function parseInterval(text: string): number | undefined {
  const match = /^([0-9]+)(s|sec|ms|msec|us|usec|hz)$/.exec(text);
  if (match === null) return undefined;
  const count = Number(match[1]);
  const nanoseconds = match[2] === 'hz' ? (count === 0 ? 0 : Math.round(1e9 / count)) : count * NANOSECONDS_PER_UNIT[match[2]!]!;
  return nanoseconds >= 1 && Number.isSafeInteger(nanoseconds) ? nanoseconds : undefined;
}

/** `SYSTEM:EVENT`: both parts globs, no whitespace, no further `:`. */
function systemEvent<K extends 'tracepoint' | 'syscall'>(kind: K) {
  return (text: string, rest: string): EventDefinition | undefined => {
    if (/\s/.test(text) || rest.includes(':')) return undefined;
    return { kind, text, system: text.slice(0, text.length - rest.length - 1), event: rest } as DefinitionOf<K>;
  };
}

/** `probe:SYMBOL[%return] [FETCHARGS]` or `probe:/PATH:TARGET[%return] [FETCHARGS]`. */
function parseProbe(text: string, rest: string): DefinitionOf<'kprobe' | 'uprobe'> | undefined {
  let path: string | undefined;
  let targetText = rest;
  if (rest.startsWith('/')) {
    const pathEnd = rest.indexOf(':');
    if (pathEnd < 0) return undefined;
    path = rest.slice(0, pathEnd);
    targetText = rest.slice(pathEnd + 1);
  }
  const match = /^(\S+?)(%return)?(?:\s+(.*))?$/.exec(targetText);
  if (match === null) return undefined;
  const [, target, returnSuffix, fetchArgs = ''] = match;
  const isReturn = returnSuffix !== undefined;
  if (path === undefined) return { kind: 'kprobe', text, symbol: target!, isReturn, fetchArgs: fetchArgs.trim() };
  return { kind: 'uprobe', text, path, target: target!, isReturn, fetchArgs: fetchArgs.trim() };
}

/** `sdt:/PATH:NAME` or `sdt:/PATH:PROVIDER:NAME`. */
function parseSdt(text: string, rest: string): EventDefinition | undefined {
  if (!rest.startsWith('/') || /\s/.test(rest)) return undefined;
  const parts = rest.split(':');
  if (parts.length === 2 && parts[1] !== '') return { kind: 'sdt', text, path: parts[0]!, provider: '*', name: parts[1]! };
  if (parts.length === 3 && parts[1] !== '' && parts[2] !== '') {
    return { kind: 'sdt', text, path: parts[0]!, provider: parts[1]!, name: parts[2]! };
  }
  return undefined;
}

function timer(kind: 'tick' | 'profile') {
  return (text: string, rest: string): EventDefinition | undefined => {
    const intervalNs = parseInterval(rest);
    return intervalNs === undefined ? undefined : { kind, text, intervalNs };
  };
}

/** One row per probe kind, like bpftrace's probe_types.h; sources.ts adds the kernel side. */
export const PROBE_SYNTAX: readonly ProbeSyntax[] = [
  { kind: 'syscall', header: 'trace', prefix: 'syscalls', pathFirst: false, form: 'syscalls:sys_enter_NAME, syscalls:sys_exit_NAME', parse: systemEvent('syscall') },
  { kind: 'ftrace', header: 'trace', prefix: 'ftrace', pathFirst: false, form: 'ftrace:function [/ip == GLOB || …/]',
    parse: (text, rest) => (rest === 'function' ? { kind: 'ftrace', text } : undefined) },
  { kind: 'kprobe', header: 'trace', prefix: 'probe', pathFirst: false, form: 'probe:SYMBOL[%return] [FETCHARGS]',
    parse: (text, rest) => (rest.startsWith('/') ? undefined : parseProbe(text, rest)) },
  { kind: 'uprobe', header: 'trace', prefix: 'probe', pathFirst: true, form: 'probe:/PATH:TARGET[%return] [FETCHARGS]',
    parse: (text, rest) => (rest.startsWith('/') ? parseProbe(text, rest) : undefined) },
  { kind: 'sdt', header: 'trace', prefix: 'sdt', pathFirst: true, form: 'sdt:/PATH:[PROVIDER:]NAME', parse: parseSdt },
  { kind: 'tracepoint', header: 'trace', prefix: null, pathFirst: false, form: 'SYSTEM:EVENT', parse: systemEvent('tracepoint') },
  { kind: 'tick', header: 'tick', prefix: 'tick', pathFirst: false, form: 'tick-N', parse: timer('tick') },
  { kind: 'profile', header: 'profile', prefix: 'profile', pathFirst: false, form: 'profile-N', parse: timer('profile') },
];

const TRACE_ROWS = PROBE_SYNTAX.filter((row) => row.header === 'trace');

/** The rows that may parse an EVENTDEF starting with PREFIX: those claiming it, else the catch-all. */
function rowsFor(prefix: string): readonly ProbeSyntax[] {
  const claimed = TRACE_ROWS.filter((row) => row.prefix === prefix);
  return claimed.length > 0 ? claimed : TRACE_ROWS.filter((row) => row.prefix === null);
}

/** Parses an EVENTSPEC; undefined when malformed (`cannot parse eventdef 'TEXT'`). */
export function parseEventSpec(text: string): EventSpec | undefined {
  const definitions: EventDefinition[] = [];
  let position = 0;
  for (;;) {
    const start = position;
    // The probe target begins after the first ':' (and, for an absolute path of a uprobe or
    // SDT marker, after the ':' that ends the path); a '/' before that is part of the path.
    const colon = text.indexOf(':', start);
    if (colon < 0) return undefined;
    const prefix = text.slice(start, colon).trim();
    let targetStart = colon + 1;
    if (text[targetStart] === '/' && rowsFor(prefix).some((row) => row.pathFirst)) {
      const pathEnd = text.indexOf(':', targetStart);
      if (pathEnd < 0) return undefined;
      targetStart = pathEnd + 1;
    }
    let end = targetStart;
    while (end < text.length && text[end] !== ',' && text[end] !== '/') end++;
    const definition = parseDefinition(text.slice(start, end).trim());
    if (definition === undefined) return undefined;
    definitions.push(definition);
    if (end >= text.length) return { definitions };
    if (text[end] === ',') {
      position = end + 1;
      continue;
    }
    // A filter runs from this '/' to the final '/', which must end the text.
    const close = text.lastIndexOf('/');
    if (close <= end || text.slice(close + 1).trim() !== '') return undefined;
    return { definitions, filter: text.slice(end + 1, close) };
  }
}

function parseDefinition(text: string): EventDefinition | undefined {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) return undefined;
  const rest = text.slice(colon + 1);
  for (const row of rowsFor(text.slice(0, colon))) {
    const definition = row.parse(text, rest);
    if (definition !== undefined) return definition;
  }
  return undefined;
}

/**
 * A handler's header parsed, or the one-line error the compiler and the runtime report:
 * `cannot parse eventdef 'TEXT'`, `cannot parse timer interval: N`.
 */
export function parseHeader(kind: HeaderKind, header: string): EventSpec | string {
  if (kind === 'trace') return parseEventSpec(header) ?? `cannot parse eventdef '${firstLine(header)}'`;
  const row = PROBE_SYNTAX.find((candidate) => candidate.header === kind)!;
  const interval = header.slice(header.indexOf('-') + 1);
  const definition = header.startsWith(`${row.prefix}-`) ? row.parse(header, interval) : undefined;
  return definition === undefined ? `cannot parse timer interval: ${firstLine(interval)}` : { definitions: [definition] };
}
