// Lexer: turns a script's bytes into the tokens of SPEC §1, one at a time on demand, and
// reads the raw EVENTSPEC / INTERVAL headers of trace and timer blocks (SPEC §2.4).

import { CompileError } from './errors';
import { RESERVED_WORDS, SYMBOLS, type ReservedWord, type SymbolToken, type Token, type TokenKind } from './token';
import { parseNumberLiteral } from '../vm/value';

const END = -1;

const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const DOUBLE_QUOTE = 0x22;
const HASH = 0x23;
const SINGLE_QUOTE = 0x27;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const EQUALS = 0x3d;
const OPEN_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const DELETE = 0x7f;

// Character classes of the 256 bytes, looked up instead of tested with ranges or regexes.
const IS_SPACE = 1;
const IS_LETTER = 2; // includes `_` and every byte >= 0x80
const IS_DIGIT = 4;
const IS_HEX_DIGIT = 8;

const characterClasses = new Uint8Array(256);
for (const code of [SPACE, TAB, LINE_FEED, 0x0b, 0x0c, CARRIAGE_RETURN]) characterClasses[code] |= IS_SPACE;
for (let code = 0; code < 256; code++) {
  const char = String.fromCharCode(code);
  if ((char >= 'a' && char <= 'z') || (char >= 'A' && char <= 'Z') || char === '_' || code >= 0x80) {
    characterClasses[code] |= IS_LETTER;
  }
  if (char >= '0' && char <= '9') characterClasses[code] |= IS_DIGIT | IS_HEX_DIGIT;
  if ((char >= 'a' && char <= 'f') || (char >= 'A' && char <= 'F')) characterClasses[code] |= IS_HEX_DIGIT;
}

function hasClass(code: number, characterClass: number): boolean {
  return code !== END && (characterClasses[code] & characterClass) !== 0;
}

function isLineBreak(code: number): boolean {
  return code === LINE_FEED || code === CARRIAGE_RETURN;
}

function hexDigitValue(code: number): number {
  return hasClass(code, IS_DIGIT) ? code - ZERO : (code | 0x20) - 0x61 + 10;
}

/** Whitespace in the sense of §1.1 only: String.prototype.trim would also eat byte 0xA0, a letter here. */
function trimWhitespace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && hasClass(text.charCodeAt(start), IS_SPACE)) start++;
  while (end > start && hasClass(text.charCodeAt(end - 1), IS_SPACE)) end--;
  return text.slice(start, end);
}

const reservedWords = new Map<string, ReservedWord>(RESERVED_WORDS.map((word) => [word, word]));
const symbols = new Map<string, SymbolToken>(SYMBOLS.map((symbol) => [symbol, symbol]));
const LONGEST_SYMBOL = Math.max(...SYMBOLS.map((symbol) => symbol.length));
/** First bytes of the symbols longer than one byte. */
const SYMBOL_STARTS = new Set(SYMBOLS.filter((symbol) => symbol.length > 1).map((symbol) => symbol.charCodeAt(0)));

/** What a backslash followed by a single character stands for in a short string. */
const singleCharacterEscapes = new Map<string, string>([
  ['a', '\x07'], ['b', '\b'], ['f', '\f'], ['n', '\n'], ['r', '\r'], ['t', '\t'], ['v', '\v'],
  ['\\', '\\'], ['"', '"'], ["'", "'"],
]);

export class Lexer {
  private position = 0;
  private currentLine = 1;

  /** `source` is a byte string (char codes 0…255); `chunk` names it in error messages. */
  constructor(
    private readonly source: string,
    private readonly chunk: string,
  ) {
    if (source.startsWith('\xEF\xBB\xBF')) this.position = 3;
  }

  /** Current line of the lexer (the line after the last token scanned). */
  get line(): number {
    return this.currentLine;
  }

  /** Scans and returns the next token. Throws CompileError on lexical errors. */
  next(): Token {
    for (;;) {
      const code = this.codeAt(this.position);
      const start = this.position;
      const startLine = this.currentLine;
      if (code === END) return this.token('eof', undefined, '<eof>', startLine);
      if (isLineBreak(code)) {
        this.skipLineBreak();
      } else if (hasClass(code, IS_SPACE)) {
        this.position++;
      } else if (code === HASH) {
        this.skipToLineEnd();
      } else if (code === MINUS && this.codeAt(start + 1) === MINUS) {
        this.skipComment();
      } else if (hasClass(code, IS_LETTER)) {
        return this.readName(start, startLine);
      } else if (hasClass(code, IS_DIGIT) || (code === DOT && hasClass(this.codeAt(start + 1), IS_DIGIT))) {
        return this.readNumber(start, startLine);
      } else if (code === DOUBLE_QUOTE || code === SINGLE_QUOTE) {
        return this.readShortString(start, startLine);
      } else if (code === OPEN_BRACKET && this.isLongBracket(start)) {
        const value = this.readLongBracket('unfinished long string');
        return this.token('string', value, this.source.slice(start, this.position), startLine);
      } else if (code === OPEN_BRACKET && this.codeAt(start + 1) === EQUALS) {
        // `[=` with no second `[`; the lexer stops after the `=`s, as Lua's does.
        this.position = start + 1 + this.countEquals(start + 1);
        throw this.error('invalid long string delimiter', this.source.slice(start, this.position));
      } else {
        return this.readSymbol(start, startLine);
      }
    }
  }

  /**
   * Raw header text for `trace EVENTSPEC {` and `tick-INTERVAL {` (SPEC §2.4): the text from
   * the current position up to, not including, the next `{`, trimmed; `line` is the line
   * where the lexer is after it. `found` is false when the input ended first. The `{` is
   * left for next().
   */
  readRawHeader(): { text: string; line: number; found: boolean } {
    const start = this.position;
    let code = this.codeAt(this.position);
    while (code !== END && code !== OPEN_BRACE) {
      if (isLineBreak(code)) this.skipLineBreak();
      else this.position++;
      code = this.codeAt(this.position);
    }
    const text = trimWhitespace(this.source.slice(start, this.position));
    return { text, line: this.currentLine, found: code === OPEN_BRACE };
  }

  private codeAt(offset: number): number {
    return offset < this.source.length ? this.source.charCodeAt(offset) : END;
  }

  private token(kind: TokenKind, value: Token['value'], text: string, line: number): Token {
    return { kind, value, text, line, endLine: this.currentLine };
  }

  /** An error at the lexer's current line, as Lua's llex reports them. */
  private error(detail: string, near: string): CompileError {
    return new CompileError(this.chunk, this.currentLine, detail, near);
  }

  /** `\r\n` and `\n\r` are one line break; `\n\n` and `\r\r` are two. */
  private skipLineBreak(): void {
    const first = this.codeAt(this.position++);
    const second = this.codeAt(this.position);
    if (isLineBreak(second) && second !== first) this.position++;
    this.currentLine++;
  }

  private skipToLineEnd(): void {
    let code = this.codeAt(this.position);
    while (code !== END && !isLineBreak(code)) code = this.codeAt(++this.position);
  }

  /** After `--`: a long comment when a complete long bracket follows, else a line comment. */
  private skipComment(): void {
    this.position += 2;
    if (this.codeAt(this.position) === OPEN_BRACKET && this.isLongBracket(this.position)) {
      this.readLongBracket('unfinished long comment');
    } else {
      this.skipToLineEnd();
    }
  }

  private countEquals(offset: number): number {
    let count = 0;
    while (this.codeAt(offset + count) === EQUALS) count++;
    return count;
  }

  /** Whether the `[` at `offset` opens a long bracket: `[[`, `[==[`. */
  private isLongBracket(offset: number): boolean {
    return this.codeAt(offset + 1 + this.countEquals(offset + 1)) === OPEN_BRACKET;
  }

  /**
   * Reads a long string or comment whose opening bracket starts at the current position and
   * returns its content, every line break in it turned into `\n`.
   */
  private readLongBracket(unfinishedMessage: string): string {
    const level = this.countEquals(this.position + 1);
    this.position += level + 2;
    if (isLineBreak(this.codeAt(this.position))) this.skipLineBreak();
    const parts: string[] = [];
    let segmentStart = this.position;
    for (;;) {
      const code = this.codeAt(this.position);
      if (code === END) throw this.error(unfinishedMessage, '<eof>');
      if (code === CLOSE_BRACKET) {
        const closingLevel = this.countEquals(this.position + 1);
        const after = this.position + 1 + closingLevel;
        if (closingLevel === level && this.codeAt(after) === CLOSE_BRACKET) {
          parts.push(this.source.slice(segmentStart, this.position));
          this.position = after + 1;
          return parts.join('');
        }
        // Not our closing bracket: its `]` and `=`s are content; a `]` after them may still close.
        this.position = after;
      } else if (isLineBreak(code)) {
        parts.push(this.source.slice(segmentStart, this.position), '\n');
        this.skipLineBreak();
        segmentStart = this.position;
      } else {
        this.position++;
      }
    }
  }

  private readName(start: number, startLine: number): Token {
    while (hasClass(this.codeAt(this.position), IS_LETTER | IS_DIGIT)) this.position++;
    const text = this.source.slice(start, this.position);
    const reserved = reservedWords.get(text);
    return reserved === undefined
      ? this.token('name', text, text, startLine)
      : this.token(reserved, undefined, text, startLine);
  }

  /**
   * Takes the longest run a number could be made of (SPEC §1.3) and only then decides
   * whether it is one, so `12ab` or `1.5` is one malformed number rather than two tokens.
   */
  private readNumber(start: number, startLine: number): Token {
    const isHex = this.codeAt(start) === ZERO && (this.codeAt(start + 1) | 0x20) === 0x78; // x or X
    const exponentMark = isHex ? 0x70 : 0x65; // p or e, lowercased
    for (;;) {
      const code = this.codeAt(this.position);
      if (!hasClass(code, IS_LETTER | IS_DIGIT) && code !== DOT) break;
      this.position++;
      const sign = this.codeAt(this.position);
      if ((code | 0x20) === exponentMark && (sign === PLUS || sign === MINUS)) this.position++;
    }
    const text = this.source.slice(start, this.position);
    const value = parseNumberLiteral(text);
    if (value === undefined) throw this.error('malformed number', text);
    return this.token('number', value, text, startLine);
  }

  private readShortString(start: number, startLine: number): Token {
    const quote = this.codeAt(this.position++);
    const parts: string[] = [];
    let segmentStart = this.position;
    for (;;) {
      const code = this.codeAt(this.position);
      if (code === quote) break;
      if (code === END) throw this.error('unfinished string', '<eof>');
      if (isLineBreak(code)) throw this.error('unfinished string', this.source.slice(start, this.position));
      if (code === BACKSLASH) {
        parts.push(this.source.slice(segmentStart, this.position));
        this.position++;
        parts.push(this.readEscape(start));
        segmentStart = this.position;
      } else {
        this.position++;
      }
    }
    parts.push(this.source.slice(segmentStart, this.position));
    this.position++;
    return this.token('string', parts.join(''), this.source.slice(start, this.position), startLine);
  }

  /**
   * Reads the escape after a backslash and returns the bytes it stands for. At the end of
   * the input it returns '' and leaves the string loop to report the string unfinished.
   */
  private readEscape(stringStart: number): string {
    const code = this.codeAt(this.position);
    if (code === END) return '';
    if (isLineBreak(code)) {
      this.skipLineBreak();
      return '\n';
    }
    const char = this.source[this.position];
    const single = singleCharacterEscapes.get(char);
    if (single !== undefined) {
      this.position++;
      return single;
    }
    if (char === 'x') {
      this.position++;
      let value = 0;
      for (let digit = 0; digit < 2; digit++) {
        const hexCode = this.codeAt(this.position);
        if (hexCode === END) return '';
        if (!hasClass(hexCode, IS_HEX_DIGIT)) throw this.invalidEscape(stringStart);
        value = value * 16 + hexDigitValue(hexCode);
        this.position++;
      }
      return String.fromCharCode(value);
    }
    if (char === 'z') {
      this.position++;
      for (let next = this.codeAt(this.position); hasClass(next, IS_SPACE); next = this.codeAt(this.position)) {
        if (isLineBreak(next)) this.skipLineBreak();
        else this.position++;
      }
      return '';
    }
    if (!hasClass(code, IS_DIGIT)) throw this.invalidEscape(stringStart);
    let value = 0;
    for (let digit = 0; digit < 3 && hasClass(this.codeAt(this.position), IS_DIGIT); digit++) {
      value = value * 10 + this.codeAt(this.position++) - ZERO;
    }
    if (value > 255) throw this.error('invalid escape sequence', this.source.slice(stringStart, this.position));
    return String.fromCharCode(value);
  }

  /**
   * The near text shows the string up to and including the offending character, except a
   * line break, which would split the one-line message.
   */
  private invalidEscape(stringStart: number): CompileError {
    const end = isLineBreak(this.codeAt(this.position)) ? this.position : this.position + 1;
    return this.error('invalid escape sequence', this.source.slice(stringStart, end));
  }

  /** Operators and punctuation by longest match; anything else is a lone 'other' byte. */
  private readSymbol(start: number, startLine: number): Token {
    // Only a byte that begins a longer symbol needs the longer slices looked up.
    const longest = SYMBOL_STARTS.has(this.source.charCodeAt(start)) ? LONGEST_SYMBOL : 1;
    for (let length = longest; length > 0; length--) {
      const text = this.source.slice(start, start + length);
      const symbol = symbols.get(text);
      if (symbol !== undefined) {
        this.position = start + text.length;
        return this.token(symbol, undefined, text, startLine);
      }
    }
    const code = this.codeAt(this.position++);
    const isControl = code < SPACE || code === DELETE;
    return this.token('other', undefined, isControl ? `char(${code})` : String.fromCharCode(code), startLine);
  }
}
