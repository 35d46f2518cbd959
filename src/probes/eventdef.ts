// EVENTSPEC text (SPEC §4.1) → event definitions and the optional kernel filter. Pure
// syntax: resolving definitions against the running kernel happens when probes attach.

export type EventDefinition =
  | { kind: 'tracepoint'; text: string; system: string; event: string }
  | { kind: 'ftrace'; text: string }
  | { kind: 'kprobe'; text: string; symbol: string; isReturn: boolean; fetchArgs: string }
  | { kind: 'uprobe'; text: string; path: string; target: string; isReturn: boolean; fetchArgs: string }
  | { kind: 'sdt'; text: string; path: string; provider: string; name: string };

export interface EventSpec {
  readonly definitions: readonly EventDefinition[];
  /** Text between the slashes, installed verbatim as the kernel filter. */
  readonly filter?: string;
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
    if ((prefix === 'probe' || prefix === 'sdt') && text[targetStart] === '/') {
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
  const prefix = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  if (prefix === 'probe') return parseProbe(text, rest);
  if (prefix === 'sdt') return parseSdt(text, rest);
  if (prefix === 'ftrace') return rest === 'function' ? { kind: 'ftrace', text } : undefined;
  if (/\s/.test(text) || rest.includes(':')) return undefined;
  return { kind: 'tracepoint', text, system: prefix, event: rest };
}

/** `probe:SYMBOL[%return] [FETCHARGS]` or `probe:/PATH:TARGET[%return] [FETCHARGS]`. */
function parseProbe(text: string, rest: string): EventDefinition | undefined {
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
