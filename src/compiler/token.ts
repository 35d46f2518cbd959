// Tokens as the lexer hands them to the parser.

import { EVENT_VARIABLES, HANDLER_KINDS } from '../vm/opcodes';

/** The keywords of the language itself; event variables and handler kinds are reserved too. */
const KEYWORDS = [
  'break', 'do', 'else', 'elseif', 'end', 'false', 'ffi', 'for', 'function', 'goto', 'if', 'in',
  'nil', 'repeat', 'return', 'then', 'true', 'until', 'var', 'while',
] as const;

/** Reserved words (SPEC §1.2): keywords, event variables (EVENT_VARIABLES) and handler kinds (HANDLER_KINDS). */
export const RESERVED_WORDS = [...KEYWORDS, ...EVENT_VARIABLES, ...HANDLER_KINDS] as const;

/** Operators and punctuation (SPEC §1.5, and the bit operators of docs/language.md). */
export const SYMBOLS = [
  '+', '-', '*', '/', '%', '^', '..', '==', '!=', '<', '<=', '>', '>=', '=', '+=', '&&', '||', '!',
  '(', ')', '{', '}', '[', ']', ';', ':', '::', ',', '.', '...',
  '&', '|', '~', '<<', '>>', '>>>',
] as const;

export type ReservedWord = (typeof RESERVED_WORDS)[number];
export type SymbolToken = (typeof SYMBOLS)[number];

/**
 * `kind` is 'name', 'number', 'string', 'eof', a reserved word, a symbol from SYMBOLS, or
 * 'other' for a byte that starts no token (`@`, `$`, `?`, backquote, control
 * bytes …), which the parser reports as `unexpected symbol`.
 */
export type TokenKind = 'name' | 'number' | 'string' | 'eof' | 'other' | ReservedWord | SymbolToken;

export interface Token {
  readonly kind: TokenKind;
  /** name: its text; string: its bytes (escapes processed); number: its value; otherwise undefined. */
  readonly value: string | number | bigint | undefined;
  /**
   * How the token appears after `near` in error messages: the source text of names,
   * numbers and strings (strings with their quotes/brackets as written), the spelling of
   * keywords and symbols, `<eof>`, `char(N)` for a control byte.
   */
  readonly text: string;
  /** Line where the token starts. */
  readonly line: number;
  /** Line where the lexer is after the token (differs from `line` for multi-line tokens). */
  readonly endLine: number;
}
