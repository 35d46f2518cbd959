// Tracepoint definitions (SPEC §4.2) → the kernel's events they select: the glob syntax of
// SPEC §4.1, matched against available_events, with suggestions for names that match nothing.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DefinitionOf } from '../syntax/headers';
import { TracefsError } from './tracefs';

/** A `SYSTEM:EVENT` definition (a syscall one included). */
export type TracepointDefinition = Pick<DefinitionOf<'tracepoint' | 'syscall'>, 'system' | 'event'>;

export interface Tracepoint {
  readonly system: string;
  readonly event: string;
}

// ---------------------------------------------------------------------------------------
// Globs

/**
 * A glob of SPEC §4.1 as an anchored RegExp: `*` any text, `?` one character, `[abc]`,
 * `[a-z]`, `[!abc]` classes (a `]` right after `[` or `[!` is a member), `\` quotes the next
 * character. A `[` without its `]` is an ordinary character.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let index = 0; index < glob.length; index++) {
    const character = glob[index]!;
    if (character === '*') source += '.*';
    else if (character === '?') source += '.';
    else if (character === '\\' && index + 1 < glob.length) source += escapeRegExp(glob[++index]!);
    else if (character === '[') {
      const parsed = parseClass(glob, index);
      if (parsed === undefined) source += '\\[';
      else {
        source += parsed.source;
        index = parsed.end;
      }
    } else source += escapeRegExp(character);
  }
  return new RegExp(`^${source}$`);
}

/** The bracket class starting at START: its RegExp source and the index of its `]`. */
function parseClass(glob: string, start: number): { source: string; end: number } | undefined {
  let index = start + 1;
  const negated = glob[index] === '!';
  if (negated) index++;
  const members: Array<[low: string, high: string]> = [];
  for (let first = true; index < glob.length; index++, first = false) {
    if (glob[index] === ']' && !first) {
      // A range written backwards selects nothing, as in fnmatch.
      const body = members
        .filter(([low, high]) => low <= high)
        .map(([low, high]) => (low === high ? escapeClassMember(low) : `${escapeClassMember(low)}-${escapeClassMember(high)}`))
        .join('');
      return { source: `[${negated ? '^' : ''}${body}]`, end: index };
    }
    const low = classCharacter(glob, index);
    index = low.end;
    // A '-' between two members makes a range; anywhere else it is itself.
    if (glob[index + 1] === '-' && index + 2 < glob.length && glob[index + 2] !== ']') {
      const high = classCharacter(glob, index + 2);
      members.push([low.character, high.character]);
      index = high.end;
    } else members.push([low.character, low.character]);
  }
  return undefined;
}

/** One member character of a class at INDEX, `\` quoting the next; END is its last index. */
function classCharacter(glob: string, index: number): { character: string; end: number } {
  if (glob[index] === '\\' && index + 1 < glob.length) return { character: glob[index + 1]!, end: index + 1 };
  return { character: glob[index]!, end: index };
}

function escapeRegExp(character: string): string {
  return /[\\^$.*+?()[\]{}|]/.test(character) ? `\\${character}` : character;
}

function escapeClassMember(character: string): string {
  return /[\\\]^-]/.test(character) ? `\\${character}` : character;
}

/** Whether NAME matches GLOB. */
export function matchesGlob(glob: string, name: string): boolean {
  return globToRegExp(glob).test(name);
}

// ---------------------------------------------------------------------------------------
// Available events

/** available_events per tracefs root, sorted by `system:event`; read once per process. */
const availableByRoot = new Map<string, readonly Tracepoint[]>();

/** Every tracepoint of the kernel, sorted by `system:event`. */
export function availableTracepoints(root: string): readonly Tracepoint[] {
  let available = availableByRoot.get(root);
  if (available === undefined) {
    let text: string;
    try {
      text = readFileSync(join(root, 'available_events'), 'utf8');
    } catch (error) {
      throw new TracefsError(`cannot read available_events: ${(error as Error).message}`);
    }
    available = parseAvailableEvents(text);
    availableByRoot.set(root, available);
  }
  return available;
}

/** `system:event` lines → tracepoints, sorted by name. */
export function parseAvailableEvents(text: string): Tracepoint[] {
  const tracepoints: Tracepoint[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    tracepoints.push({ system: line.slice(0, colon), event: line.slice(colon + 1).trim() });
  }
  return tracepoints.sort((left, right) => compareNames(nameOf(left), nameOf(right)));
}

function nameOf(tracepoint: Tracepoint): string {
  return `${tracepoint.system}:${tracepoint.event}`;
}

function compareNames(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * `-le [GLOB]`: the sorted `system:event` names; a GLOB with a `:` matches the two parts as a
 * definition does, one without matches the whole name (so `*read*` finds any event).
 */
export function listEvents(root: string, glob?: string): string[] {
  const names = availableTracepoints(root).map(nameOf);
  if (glob === undefined) return names;
  const colon = unescapedColon(glob);
  if (colon < 0) {
    const pattern = globToRegExp(glob);
    return names.filter((name) => pattern.test(name));
  }
  const system = globToRegExp(glob.slice(0, colon));
  const event = globToRegExp(glob.slice(colon + 1));
  return availableTracepoints(root)
    .filter((tracepoint) => system.test(tracepoint.system) && event.test(tracepoint.event))
    .map(nameOf);
}

function unescapedColon(glob: string): number {
  for (let index = 0; index < glob.length; index++) {
    if (glob[index] === '\\') index++;
    else if (glob[index] === ':') return index;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------
// Resolving

/** The tracepoints the definitions select on this kernel, in definition order, each once. */
export function resolveTracepoints(root: string, definitions: readonly TracepointDefinition[]): Tracepoint[] {
  return selectTracepoints(availableTracepoints(root), definitions);
}

/**
 * The tracepoints of AVAILABLE (sorted) that DEFINITIONS select: in definition order, each
 * once, a glob's matches in name order. A definition that selects nothing is the error
 * `unknown event 'SYSTEM:EVENT'` with the nearest names that exist.
 */
export function selectTracepoints(
  available: readonly Tracepoint[],
  definitions: readonly TracepointDefinition[],
): Tracepoint[] {
  const selected: Tracepoint[] = [];
  const seen = new Set<string>();
  for (const definition of definitions) {
    const system = globToRegExp(definition.system);
    const event = globToRegExp(definition.event);
    let matched = false;
    for (const tracepoint of available) {
      if (!system.test(tracepoint.system) || !event.test(tracepoint.event)) continue;
      matched = true;
      const name = nameOf(tracepoint);
      if (seen.has(name)) continue;
      seen.add(name);
      selected.push(tracepoint);
    }
    if (!matched) throw new TracefsError(unknownEventMessage(available, definition));
  }
  return selected;
}

/** Suggestions are names within this share of the definition's length in edits. */
const SUGGESTION_DISTANCE_SHARE = 0.4;
const MAX_SUGGESTIONS = 3;
/** …and at most this many edits further than the nearest one, which is what was meant. */
const SUGGESTION_SLACK = 2;

/**
 * `unknown event 'sched:sched_swich'; did you mean 'sched:sched_switch'?`. Each part of a
 * candidate costs nothing when the definition's glob matches it and its edit distance
 * otherwise, and a part that matched keeps the user's glob: `schd:*` suggests `sched:*`.
 */
function unknownEventMessage(available: readonly Tracepoint[], definition: TracepointDefinition): string {
  const { system, event } = definition;
  const message = `unknown event '${system}:${event}'`;
  const systemPattern = globToRegExp(system);
  const eventPattern = globToRegExp(event);
  const limit = Math.max(2, Math.floor((system.length + event.length + 1) * SUGGESTION_DISTANCE_SHARE));
  const costs = new Map<string, number>();
  for (const tracepoint of available) {
    const systemMatches = systemPattern.test(tracepoint.system);
    const eventMatches = eventPattern.test(tracepoint.event);
    const cost =
      (systemMatches ? 0 : editDistance(system, tracepoint.system)) +
      (eventMatches ? 0 : editDistance(event, tracepoint.event));
    if (cost > limit) continue;
    const suggestion = `${systemMatches ? system : tracepoint.system}:${eventMatches ? event : tracepoint.event}`;
    costs.set(suggestion, Math.min(cost, costs.get(suggestion) ?? Infinity));
  }
  const wanted = `${system}:${event}`;
  const best = Math.min(...costs.values());
  const suggestions = [...costs.keys()]
    .filter((name) => costs.get(name)! <= best + SUGGESTION_SLACK)
    .sort(
      (left, right) =>
        costs.get(left)! - costs.get(right)! ||
        commonPrefixLength(wanted, right) - commonPrefixLength(wanted, left) ||
        compareNames(left, right),
    )
    .slice(0, MAX_SUGGESTIONS);
  if (suggestions.length === 0) return message;
  return `${message}; did you mean ${suggestions.map((name) => `'${name}'`).join(', ')}?`;
}

/** Edits (insert, delete, substitute, swap two neighbours) turning LEFT into RIGHT. */
function editDistance(left: string, right: string): number {
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: right.length + 1 }, (_, index) => index);
  for (let row = 1; row <= left.length; row++) {
    const current = [row];
    for (let column = 1; column <= right.length; column++) {
      const substitution = left[row - 1] === right[column - 1] ? 0 : 1;
      let best = Math.min(previous[column]! + 1, current[column - 1]! + 1, previous[column - 1]! + substitution);
      if (row > 1 && column > 1 && left[row - 1] === right[column - 2] && left[row - 2] === right[column - 1]) {
        best = Math.min(best, beforePrevious[column - 2]! + 1);
      }
      current.push(best);
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[right.length]!;
}

function commonPrefixLength(left: string, right: string): number {
  let length = 0;
  while (length < left.length && left[length] === right[length]) length++;
  return length;
}
