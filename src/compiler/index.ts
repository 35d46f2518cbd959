// The compiler's one entry point: a chunk of source compiled against the session it will
// run in (its builtin globals and, in the REPL, the variables earlier inputs declared).

import { generate } from './codegen';
import { parse } from './parser';
import { resolve, type SessionScope } from './scope';
import type { Proto } from '../vm/proto';

export { CompileError } from './errors';
export type { SessionScope } from './scope';

export interface CompileOptions {
  /** Names of the builtin globals (the builtin registry's GLOBAL_NAMES). */
  readonly globals: ReadonlySet<string>;
  /**
   * The REPL session's existing variables. When present, earlier inputs' variables are
   * visible and this chunk's top-level declarations become new session variables.
   */
  readonly session?: SessionScope;
}

export interface CompileResult {
  readonly main: Proto;
  /** Top-level declarations that became session variables, in slot order (REPL only). */
  readonly newSessionVariables: ReadonlyArray<{ readonly name: string; readonly slot: number }>;
}

/**
 * Compiles `source` (a byte string) named `chunkName` in error messages.
 * Throws CompileError with the exact text of SPEC §6.1.
 */
export function compile(source: string, chunkName: string, options: CompileOptions): CompileResult {
  const chunk = parse(source, chunkName);
  const resolution = resolve(chunk, chunkName, options);
  const main = generate(chunk, chunkName, resolution);
  return {
    main,
    newSessionVariables: resolution.newSessionVariables.map((variable) => ({ name: variable.name, slot: variable.sessionSlot })),
  };
}
