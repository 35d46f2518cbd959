// Unit tests of the lexer: every token kind, escape, number form, comment and line-break
// style of SPEC §1, the raw headers of §2.4 and the exact text of each lexical error (§6.1).

import t from 'tap';
import { Lexer } from '../../src/compiler/lexer';
import { CompileError } from '../../src/compiler/errors';
import { RESERVED_WORDS, SYMBOLS, type Token } from '../../src/compiler/token';

/** All tokens of `source`, the final eof included. */
function tokens(source: string): Token[] {
  return remainingTokens(new Lexer(source, 'test.kp'));
}

function remainingTokens(lexer: Lexer): Token[] {
  const result: Token[] = [];
  for (;;) {
    const token = lexer.next();
    result.push(token);
    if (token.kind === 'eof') return result;
  }
}

function kinds(source: string): string[] {
  return tokens(source).map((token) => token.kind);
}

function values(source: string): unknown[] {
  return tokens(source).slice(0, -1).map((token) => token.value);
}

/** The message of the CompileError lexing `source` raises (or a note that it raised none). */
function errorOf(source: string): string {
  try {
    tokens(source);
  } catch (error) {
    if (error instanceof CompileError) return error.message;
    throw error;
  }
  return 'no error';
}

t.test('names and reserved words', async (t) => {
  for (const word of RESERVED_WORDS) {
    const [token] = tokens(word);
    t.same(token, { kind: word, value: undefined, text: word, line: 1, endLine: 1 }, word);
  }
  t.same(kinds('local and or not continue next argevent argname _ _x9 Trace'), [
    'name', 'name', 'name', 'name', 'name', 'name', 'name', 'name', 'name', 'name', 'name', 'eof',
  ]);
  t.same(values('abc A_1 arg10 trace2'), ['abc', 'A_1', 'arg10', 'trace2']);
  // Bytes >= 0x80 are letters (here the UTF-8 bytes of "é").
  t.same(values('caf\xC3\xA9 \xFFx'), ['caf\xC3\xA9', '\xFFx']);
  t.same(tokens('x')[0], { kind: 'name', value: 'x', text: 'x', line: 1, endLine: 1 });
});

t.test('symbols', async (t) => {
  for (const symbol of SYMBOLS) {
    const [token] = tokens(symbol);
    t.same(token, { kind: symbol, value: undefined, text: symbol, line: 1, endLine: 1 }, symbol);
  }
  t.same(kinds('a+=1'), ['name', '+=', 'number', 'eof']);
  t.same(kinds('a..b...c....'), ['name', '..', 'name', '...', 'name', '...', '.', 'eof']);
  t.same(kinds('!a != b !'), ['!', 'name', '!=', 'name', '!', 'eof']);
  t.same(kinds('< <=> >======'), ['<', '<=', '>', '>=', '==', '==', '=', 'eof']);
  t.same(kinds('<<=>>======'), ['<<', '=', '>>', '==', '==', '==', 'eof']);
  t.same(kinds('>>>>>>=~~=<<<'), ['>>>', '>>>', '=', '~', '~', '=', '<<', '<', 'eof']);
  t.same(kinds(':::'), ['::', ':', 'eof']);
  t.same(kinds('&&&|||'), ['&&', '&', '||', '|', 'eof']);
  t.same(kinds('- -'), ['-', '-', 'eof']);
  t.same(kinds('a[1]'), ['name', '[', 'number', ']', 'eof']);
  t.same(kinds('[ [1]]'), ['[', '[', 'number', ']', ']', 'eof']);
  t.same(kinds('+ * / % ^ ( ) { } ; ,'), ['+', '*', '/', '%', '^', '(', ')', '{', '}', ';', ',', 'eof']);
});

t.test('lone bytes that start no token', async (t) => {
  const lone = tokens('@ $ ? ` \\');
  t.same(lone.map((token) => [token.kind, token.text]), [
    ['other', '@'], ['other', '$'], ['other', '?'], ['other', '`'], ['other', '\\'], ['eof', '<eof>'],
  ]);
  t.same(tokens('\x00\x01\x08\x0e\x1f\x7f').map((token) => [token.kind, token.text]), [
    ['other', 'char(0)'], ['other', 'char(1)'], ['other', 'char(8)'], ['other', 'char(14)'],
    ['other', 'char(31)'], ['other', 'char(127)'], ['eof', '<eof>'],
  ]);
  t.same(tokens('@')[0].value, undefined);
});

t.test('eof', async (t) => {
  t.same(tokens(''), [{ kind: 'eof', value: undefined, text: '<eof>', line: 1, endLine: 1 }]);
  t.same(tokens('a =\n')[2], { kind: 'eof', value: undefined, text: '<eof>', line: 2, endLine: 2 });
  const lexer = new Lexer('x', 'test.kp');
  lexer.next();
  t.equal(lexer.next().kind, 'eof');
  t.equal(lexer.next().kind, 'eof', 'eof repeats');
});

t.test('decimal, hexadecimal and octal numbers', async (t) => {
  t.same(values('0 7 255 1234567890'), [0, 7, 255, 1234567890]);
  t.same(values('0xff 0XFF 0xAbC 0x0'), [255, 255, 0xabc, 0]);
  t.same(values('010 0377 00 07'), [8, 255, 0, 7]);
  t.same(values('9007199254740991 9007199254740992'), [9007199254740991, 9007199254740992n]);
  t.same(values('0x7fffffffffffffff 9223372036854775807'), [9223372036854775807n, 9223372036854775807n]);
  t.same(values('0x8000000000000000 9223372036854775808'), [-9223372036854775808n, -9223372036854775808n]);
  t.same(values('0xffffffffffffffff 18446744073709551615'), [-1, -1]);
  t.same(values('99999999999999999999 0x10000000000000000 07777777777777777777777777'), [-1, -1, -1]);
  t.same(tokens('0x1F')[0], { kind: 'number', value: 31, text: '0x1F', line: 1, endLine: 1 });
  t.same(kinds('-1'), ['-', 'number', 'eof'], 'a leading minus is the operator');
  t.same(kinds('1+2 3-4'), ['number', '+', 'number', 'number', '-', 'number', 'eof']);
  // In hex `e` is a digit, so a sign after it is not part of the literal.
  t.same(values('0x1e+5'), [30, undefined, 5]);
  t.same(kinds('f(1,2)'), ['name', '(', 'number', ',', 'number', ')', 'eof']);
});

t.test('malformed numbers', async (t) => {
  for (const text of ['1.5', '1e3', '.5', '08', '0x', '12ab', '1_000', '1e+5', '1E-5', '0x1p-3', '0x1P+3',
    '1..2', '09', '0xg', '0x1.8', '1.', '5x', '1\xC3\xA9']) {
    t.equal(errorOf(`x = ${text}`), `syntax error: test.kp:1: malformed number near '${text}'`, text);
  }
  t.equal(errorOf('x = 1.5 y'), "syntax error: test.kp:1: malformed number near '1.5'");
  t.equal(errorOf('\n\n1e5+1'), "syntax error: test.kp:3: malformed number near '1e5'");
  t.equal(errorOf('a.5'), "syntax error: test.kp:1: malformed number near '.5'");
  t.equal(errorOf('x = 1e+'), "syntax error: test.kp:1: malformed number near '1e+'");
});

t.test('short strings and escapes', async (t) => {
  t.same(tokens('"abc"')[0], { kind: 'string', value: 'abc', text: '"abc"', line: 1, endLine: 1 });
  t.same(tokens("'a\"b'")[0], { kind: 'string', value: 'a"b', text: "'a\"b'", line: 1, endLine: 1 });
  t.same(values('"" \'\''), ['', '']);
  t.same(values('"\\a\\b\\f\\n\\r\\t\\v"'), ['\x07\b\f\n\r\t\v']);
  t.same(values('"\\\\ \\" \\\'" \'\\"\''), ['\\ " \'', '"']);
  t.same(values('"\\x41\\x6a\\x6A\\xff\\x00"'), ['Aj\x6a\xff\x00']);
  t.same(values('"\\0\\65\\065\\255\\1234\\9x"'), ['\x00AA\xff{4\tx']);
  t.same(values("'\\65\\x42\\tC'"), ['AB\tC']);
  t.same(values('"a\x00b\x7f\xC3\xA9"'), ['a\x00b\x7f\xC3\xA9'], 'NUL, control and high bytes are kept');
  const continued = tokens('"a\\\nb" x');
  t.same(continued[0], { kind: 'string', value: 'a\nb', text: '"a\\\nb"', line: 1, endLine: 2 });
  t.equal(continued[1].line, 2);
  for (const lineBreak of ['\n', '\r', '\r\n', '\n\r']) {
    const [string, name] = tokens(`"a\\${lineBreak}b" x`);
    t.equal(string.value, 'a\nb', `backslash + ${JSON.stringify(lineBreak)} is one \\n byte`);
    t.equal(name.line, 2);
  }
  const zapped = tokens('"a\\z  \n\t\r\n  b\\z" c');
  t.same(zapped[0], { kind: 'string', value: 'ab', text: '"a\\z  \n\t\r\n  b\\z"', line: 1, endLine: 3 });
  t.equal(zapped[1].line, 3);
  t.same(values('"\\zx"'), ['x']);
});

t.test('long strings', async (t) => {
  t.same(tokens('[[abc]]')[0], { kind: 'string', value: 'abc', text: '[[abc]]', line: 1, endLine: 1 });
  t.same(values('[[]] [==[]==]'), ['', '']);
  t.same(values('[[\\n"\'\\x41]]'), ['\\n"\'\\x41'], 'no escapes');
  t.same(values('[==[a]]b]=]c]===]d]==]'), ['a]]b]=]c]===]d']);
  t.same(values('[=[]]=]'), [']']);
  t.same(values('[[a]=]]'), ['a]=']);
  t.same(tokens('[[a]]]').map((token) => [token.kind, token.value]), [['string', 'a'], [']', undefined], ['eof', undefined]]);
  const multiLine = tokens('[[one\ntwo]] x');
  t.same(multiLine[0], { kind: 'string', value: 'one\ntwo', text: '[[one\ntwo]]', line: 1, endLine: 2 });
  t.equal(multiLine[1].line, 2);
  for (const lineBreak of ['\n', '\r', '\r\n', '\n\r']) {
    const [string, name] = tokens(`[[${lineBreak}a${lineBreak}${lineBreak}b]] x`);
    t.equal(string.value, 'a\n\nb', `first ${JSON.stringify(lineBreak)} dropped, the others become \\n`);
    t.equal(name.line, 4);
  }
  t.same(values('[[\n\nx]]'), ['\nx'], 'only one line break is dropped');
  t.same(values('[==[\nx]==]'), ['x']);
});

t.test('comments', async (t) => {
  t.same(values('10 --5'), [10]);
  t.same(kinds('10 - -5'), ['number', '-', '-', 'number', 'eof']);
  t.same(values('a # b c\nd'), ['a', 'd']);
  t.same(values('a -- b c\nd'), ['a', 'd']);
  t.same(values('#!/usr/bin/env ktap\nx'), ['x']);
  t.equal(tokens('#!/usr/bin/env ktap\nx')[0].line, 2);
  t.same(values('a --[[ b\nc ]] d'), ['a', 'd']);
  t.equal(tokens('a --[[ b\nc ]] d')[1].line, 2);
  t.same(values('a --[==[ ]] ]=] \n ]==] d'), ['a', 'd']);
  t.same(values('a --[=x\nd'), ['a', 'd'], '--[= without a second [ is a line comment');
  t.same(values('a --[ x\nd'), ['a', 'd']);
  t.same(values('a --[[x]] b'), ['a', 'b']);
  t.same(values('a --'), ['a']);
  t.same(values('a #'), ['a']);
  t.same(values('a # [[ \nb'), ['a', 'b'], '# never starts a long comment');
  t.same(values('a --x\rb'), ['a', 'b']);
});

t.test('whitespace, BOM and line counting', async (t) => {
  t.same(values(' \t\v\fa\t\v\f b '), ['a', 'b']);
  t.same(tokens('\xEF\xBB\xBFx')[0], { kind: 'name', value: 'x', text: 'x', line: 1, endLine: 1 });
  t.same(kinds('\xEF\xBBx'), ['name', 'eof'], 'a partial BOM is letters');
  t.same(tokens('a\nb\rc\r\nd\n\re\n\nf\r\rg').map((token) => token.line), [1, 2, 3, 4, 5, 7, 9, 9]);
  t.same(tokens('a\n\r\nb').map((token) => token.line), [1, 3, 3], '\\n\\r then \\n');
  t.same(tokens('a\r\n\rb').map((token) => token.line), [1, 3, 3], '\\r\\n then \\r');
  const lexer = new Lexer('a\n\nb\n', 'test.kp');
  t.equal(lexer.line, 1);
  lexer.next();
  t.equal(lexer.line, 1, 'the line after the last token, not after the whitespace following it');
  lexer.next();
  t.equal(lexer.line, 3);
  t.equal(lexer.next().line, 4);
});

t.test('readRawHeader', async (t) => {
  const lexer = new Lexer('trace  syscalls:sys_enter_* /pid == 1/ \n\t{ print(1) }', 'test.kp');
  t.equal(lexer.next().kind, 'trace');
  t.same(lexer.readRawHeader(), { text: 'syscalls:sys_enter_* /pid == 1/', line: 2, found: true });
  t.same(remainingTokens(lexer).map((token) => token.kind), ['{', 'name', '(', 'number', ')', '}', 'eof']);

  const timer = new Lexer('tick-1s{x}', 'test.kp');
  t.equal(timer.next().kind, 'tick');
  t.equal(timer.next().kind, '-');
  t.same(timer.readRawHeader(), { text: '1s', line: 1, found: true });
  t.same(timer.next(), { kind: '{', value: undefined, text: '{', line: 1, endLine: 1 });

  const multiLine = new Lexer('trace\r\n  probe:do_sys_open\r\n  dfd=%di # not a comment\r\n{', 'test.kp');
  multiLine.next();
  t.same(multiLine.readRawHeader(), {
    text: 'probe:do_sys_open\r\n  dfd=%di # not a comment', line: 4, found: true,
  });
  t.equal(multiLine.next().line, 4);

  const unfinished = new Lexer('trace sched:sched_switch\n', 'test.kp');
  unfinished.next();
  t.same(unfinished.readRawHeader(), { text: 'sched:sched_switch', line: 2, found: false });
  t.same(unfinished.next(), { kind: 'eof', value: undefined, text: '<eof>', line: 2, endLine: 2 });

  const empty = new Lexer('trace {', 'test.kp');
  empty.next();
  t.same(empty.readRawHeader(), { text: '', line: 1, found: true });

  const highByte = new Lexer('trace \xA0x\xA0 {', 'test.kp');
  highByte.next();
  t.equal(highByte.readRawHeader().text, '\xA0x\xA0', 'byte 0xA0 is not whitespace');

  const noTokens = new Lexer('trace a "b --[[ c {}', 'test.kp');
  noTokens.next();
  t.same(noTokens.readRawHeader(), { text: 'a "b --[[ c', line: 1, found: true });
});

t.test('lexical errors', async (t) => {
  const cases: [string, string][] = [
    ['print("abc\nx")', "test.kp:1: unfinished string near '\"abc'"],
    ["x = 1\nprint('abc\r\n", "test.kp:2: unfinished string near ''abc'"],
    ['print("abc', "test.kp:1: unfinished string near '<eof>'"],
    ['print("abc\\', "test.kp:1: unfinished string near '<eof>'"],
    // The string so far spans two lines: the message quotes its first line.
    ['"a\\\nb\nc"', "test.kp:2: unfinished string near '\"a\\...'"],
    ['"\\65', "test.kp:1: unfinished string near '<eof>'"],
    ['"\\x', "test.kp:1: unfinished string near '<eof>'"],
    ['"\\x4', "test.kp:1: unfinished string near '<eof>'"],
    ['"\\z  \n\n', "test.kp:3: unfinished string near '<eof>'"],
    ['"a\\q"', "test.kp:1: invalid escape sequence near '\"a\\q'"],
    ['"a\\?"', "test.kp:1: invalid escape sequence near '\"a\\?'"],
    ['"\\xg1"', "test.kp:1: invalid escape sequence near '\"\\xg'"],
    ['"\\x4g"', "test.kp:1: invalid escape sequence near '\"\\x4g'"],
    ['"\\x4"', "test.kp:1: invalid escape sequence near '\"\\x4\"'"],
    ['"\\x\n"', "test.kp:1: invalid escape sequence near '\"\\x'"],
    ['"\\256"', "test.kp:1: invalid escape sequence near '\"\\256'"],
    ['"\\999"', "test.kp:1: invalid escape sequence near '\"\\999'"],
    ['"\\u{41}"', "test.kp:1: invalid escape sequence near '\"\\u'"],
    ['x = [[abc\n\n', "test.kp:3: unfinished long string near '<eof>'"],
    ['x = [==[abc]=]]', "test.kp:1: unfinished long string near '<eof>'"],
    ['a --[[ abc\n', "test.kp:2: unfinished long comment near '<eof>'"],
    ['--[=[ ]] ]==]', "test.kp:1: unfinished long comment near '<eof>'"],
    ['x = [=abc', "test.kp:1: invalid long string delimiter near '[='"],
    ['\nx = [==\n', "test.kp:2: invalid long string delimiter near '[=='"],
    ['x = [==', "test.kp:1: invalid long string delimiter near '[=='"],
    ['x = 1.5', "test.kp:1: malformed number near '1.5'"],
  ];
  for (const [source, expected] of cases) {
    t.equal(errorOf(source), `syntax error: ${expected}`, JSON.stringify(source));
  }
  const error = (() => {
    try {
      new Lexer('\n"\\q"', 'demo.kp').next();
    } catch (caught) {
      return caught;
    }
  })();
  t.ok(error instanceof CompileError);
  t.match(error, { chunk: 'demo.kp', line: 2, detail: 'invalid escape sequence', near: '"\\q' });
});

t.test('tokens carry their start and end lines', async (t) => {
  const all = tokens('a\n[[x\ny\n]] "p\\\nq" b');
  t.same(all.map((token) => [token.kind, token.line, token.endLine]), [
    ['name', 1, 1], ['string', 2, 4], ['string', 4, 5], ['name', 5, 5], ['eof', 5, 5],
  ]);
});
