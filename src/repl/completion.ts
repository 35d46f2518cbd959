// Tab completion for the REPL: keywords, builtins and library members (from the builtin
// registry), session variables, dot-commands, and event names after `trace `.

import { RESERVED_WORDS } from '../compiler/token';
import { BUILTINS, GLOBAL_NAMES } from '../vm/lib/index';

export interface CompletionSources {
  /** Names of the session's variables. */
  variables(): Iterable<string>;
  /** `system:event` names of the kernel's tracepoints (may be empty without tracefs). */
  events(): readonly string[];
  readonly commands: readonly string[];
}

/** node:readline's completer: [candidates, the text they complete]. */
export function complete(line: string, sources: CompletionSources): [string[], string] {
  if (/^\s*\.\w*$/.test(line)) {
    const word = line.trim();
    return [sources.commands.filter((command) => command.startsWith(word)), word];
  }
  const trace = /\btrace\s+((?:[^{,]*,\s*)*)([^\s{,]*)$/.exec(line);
  if (trace !== null && !/\{/.test(line.slice(trace.index))) {
    const word = trace[2]!;
    return [sources.events().filter((event) => event.startsWith(word)), word];
  }
  const member = /([A-Za-z_]\w*)\.(\w*)$/.exec(line);
  if (member !== null) {
    const [, library, partial] = member;
    const members = BUILTINS.filter((def) => def.library === library).map((def) => `${library}.${def.name}`);
    const word = `${library}.${partial}`;
    return [members.filter((name) => name.startsWith(word)), word];
  }
  const word = /[A-Za-z_]\w*$/.exec(line)?.[0] ?? '';
  if (word === '') return [[], ''];
  const names = new Set<string>([...RESERVED_WORDS, ...GLOBAL_NAMES, ...sources.variables()]);
  return [[...names].filter((name) => name.startsWith(word)).sort(), word];
}
