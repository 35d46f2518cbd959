// What one REPL input is, decided in the front end as lua.c decides it: first try the input
// as an expression (`return INPUT`, so its value can be shown), then as statements; an input
// that stops inside a construct is incomplete and the REPL asks for another line.

import { CompileError } from '../compiler/errors';
import type { Proto } from '../vm/proto';
import type { KFunction } from '../vm/value';
import type { Session } from '../session/session';

export interface CompiledInput {
  readonly proto: Proto;
  readonly main: KFunction;
  /** A bare expression: the REPL shows its value. */
  readonly expression: boolean;
  /** Code that belongs in the session's script (`.save`): statements, calls included. */
  readonly statement: boolean;
}

/**
 * Compiles one input against the variables earlier inputs declared (its own top-level `var`s
 * become session variables). 'incomplete' means the input ended inside an open construct;
 * other problems throw CompileError.
 */
export function compileInput(session: Session, source: string, chunkName: string): CompiledInput | 'incomplete' {
  let expressionError: CompileError;
  try {
    const linked = session.compileScript(`return ${source}`, chunkName, true);
    return { ...linked, expression: true, statement: compilesAsStatement(session, source, chunkName) };
  } catch (error) {
    if (!(error instanceof CompileError)) throw error;
    expressionError = error;
  }
  try {
    return { ...session.compileScript(source, chunkName, true), expression: false, statement: true };
  } catch (error) {
    if (!(error instanceof CompileError)) throw error;
    if (isOpenConstruct(error) || isOpenConstruct(expressionError)) return 'incomplete';
    throw error.near === '<eof>' ? expressionError : error;
  }
}

/**
 * Whether a compile error only says that the input ended inside a construct: a block,
 * parenthesis, bracket, long string or comment still open, or an operator waiting for its
 * operand. Decided from the parser's own error at the end of input, never by counting
 * brackets in the text.
 */
function isOpenConstruct(error: CompileError): boolean {
  if (error.near !== '<eof>') return false;
  return /^'(\}|\)|\]|end|until|\{)' expected|^unexpected symbol$|^unfinished long (string|comment)$/.test(error.detail);
}

function compilesAsStatement(session: Session, source: string, chunkName: string): boolean {
  try {
    session.checkCompiles(source, chunkName);
    return true;
  } catch (error) {
    if (!(error instanceof CompileError)) throw error;
    return false;
  }
}
