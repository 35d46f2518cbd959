// Tokens as the lexer hands them to the parser.

/** Reserved words (SPEC §1.2). */
export const RESERVED_WORDS = [
  'arg0', 'arg1', 'arg2', 'arg3', 'arg4', 'arg5', 'arg6', 'arg7', 'arg8', 'arg9',
  'argstr', 'break', 'cpu', 'do', 'else', 'elseif', 'end', 'execname', 'false', 'ffi',
  'for', 'function', 'goto', 'if', 'in', 'nil', 'pid', 'probename', 'profile', 'repeat',
  'return', 'then', 'tick', 'tid', 'trace', 'trace_end', 'true', 'uid', 'until', 'var', 'while',
] as const;

/** Operators and punctuation (SPEC §1.5), plus the lone symbols the parser rejects. */
export const SYMBOLS = [
  '+', '-', '*', '/', '%', '^', '..', '==', '!=', '<', '<=', '>', '>=', '=', '+=', '&&', '||', '!',
  '(', ')', '{', '}', '[', ']', ';', ':', '::', ',', '.', '...',
] as const;

export type ReservedWord = (typeof RESERVED_WORDS)[number];
export type SymbolToken = (typeof SYMBOLS)[number];

/**
 * `kind` is 'name', 'number', 'string', 'eof', a reserved word, a symbol from SYMBOLS, or
 * 'other' for a byte that starts no token (`&`, `|`, `~`, `@`, `$`, `?`, backquote, control
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
