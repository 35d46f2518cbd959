// Unit tests of the parser: the AST of each statement form of SPEC §2.1, precedence and
// associativity (§2.2), raw handler headers (§2.4) and the exact text, line and `near`
// token of each syntax error the parser reports (§6.1).

import t from 'tap';
import { parse } from '../../src/compiler/parser';
import { CompileError } from '../../src/compiler/errors';
import type { Block, Expression, Statement, TableField } from '../../src/compiler/ast';

/** The statements of a chunk. */
function statements(source: string): Statement[] {
  return parse(source, 'test.kp').body.statements;
}

/** The one expression of `var x = SOURCE`. */
function expression(source: string): Expression {
  const [statement] = statements(`var x = ${source}`);
  if (statement?.kind !== 'var') throw new Error('not a var statement');
  return statement.values[0]!;
}

/**
 * An expression as a Lisp-like string, to state tree shapes compactly: `(+ a (* b c))`,
 * `(call f 1)`, `(method o m 1)`, `(index t "k")`, `(paren x)`, `{1 [k]=v}`.
 */
function sexp(node: Expression): string {
  switch (node.kind) {
    case 'nil': return 'nil';
    case 'boolean': return String(node.value);
    case 'number': return typeof node.value === 'bigint' ? `${node.value}n` : String(node.value);
    case 'string': return JSON.stringify(node.value);
    case 'name': return node.name;
    case 'eventvar': return `$${node.name}`;
    case 'index': return `(index ${sexp(node.object)} ${sexp(node.key)})`;
    case 'call': return `(call ${[node.callee, ...node.args].map(sexp).join(' ')})`;
    case 'method': return `(method ${[sexp(node.object), node.method, ...node.args.map(sexp)].join(' ')})`;
    case 'function': return `(function ${node.func.name} (${node.func.params.join(' ')}) ${node.func.body.statements.length})`;
    case 'table': return `{${node.fields.map(field).join(' ')}}`;
    case 'binary': return `(${node.operator} ${sexp(node.left)} ${sexp(node.right)})`;
    case 'unary': return `(${node.operator} ${sexp(node.operand)})`;
    case 'paren': return `(paren ${sexp(node.inner)})`;
    case 'tuple': return `(tuple ${node.parts.map(sexp).join(' ')})`;
  }
}

function field(entry: TableField): string {
  return entry.kind === 'positional' ? sexp(entry.value) : `[${sexp(entry.key)}]=${sexp(entry.value)}`;
}

function shape(source: string): string {
  return sexp(expression(source));
}

/** The CompileError message parsing `source` as test.kp gives, or 'no error'. */
function errorOf(source: string): string {
  try {
    parse(source, 'test.kp');
  } catch (error) {
    if (error instanceof CompileError) return error.message;
    throw error;
  }
  return 'no error';
}

function block(body: Block): string[] {
  return body.statements.map((statement) => statement.kind);
}

t.test('var, function and assignment statements', async (t) => {
  t.strictSame(statements('var a, b = 1, "s"'), [{
    kind: 'var', names: ['a', 'b'], line: 1,
    values: [{ kind: 'number', value: 1, line: 1 }, { kind: 'string', value: 's', line: 1 }],
  }]);
  t.strictSame(statements('var c'), [{ kind: 'var', names: ['c'], values: [], line: 1 }]);

  const [declared] = statements('\nfunction add(a, b) {\n  return a + b\n}');
  t.match(declared, { kind: 'function', name: 'add', line: 2, func: { name: 'add', params: ['a', 'b'], line: 2, lastLine: 4 } });
  if (declared?.kind === 'function') {
    t.equal(declared.func.body.statements.length, 0);
    t.equal(sexp(declared.func.body.returns!.value!), '(+ a b)');
    t.equal(declared.func.body.returns!.line, 3);
  }
  const [local] = statements('var function f() { }');
  t.match(local, { kind: 'function', name: 'f', func: { name: 'f', params: [], body: { statements: [] } } });

  const [assign] = statements('a, t.x, t[1] = 1, 2, 3');
  t.equal(assign?.kind, 'assign');
  if (assign?.kind === 'assign') {
    t.strictSame(assign.targets.map((target) => sexp(target)), ['a', '(index t "x")', '(index t 1)']);
    t.strictSame(assign.values.map(sexp), ['1', '2', '3']);
  }
  const [increment] = statements('t.n += 2 * x');
  t.equal(increment?.kind, 'increment');
  if (increment?.kind === 'increment') {
    t.equal(sexp(increment.target), '(index t "n")');
    t.equal(sexp(increment.value), '(* 2 x)');
  }
  // Reserved words are field names after `.` and `:`.
  t.equal(shape('timer.tick'), '(index timer "tick")');
  t.equal(shape('kdebug.trace_end(f)'), '(call (index kdebug "trace_end") f)');
});

t.test('call statements', async (t) => {
  const calls = statements('f(1, 2) o:m(1) f "s" f {1, 2} f() () ');
  t.strictSame(calls.map((statement) => statement.kind), ['call', 'call', 'call', 'call', 'call']);
  t.strictSame(calls.map((statement) => (statement.kind === 'call' ? sexp(statement.call) : '')), [
    '(call f 1 2)',
    '(method o m 1)',
    '(call f "s")',
    '(call f {1 2})',
    '(call (call f))',
  ]);
  t.equal(shape('o.p:m "x"'), '(method (index o "p") m "x")');
  t.equal(shape('o:m{}'), '(method o m {})');
  t.equal(shape("f 'a' 'b'"), '(call (call f "a") "b")');
  t.equal(shape('a.b[c].d(1)[2]'), '(index (call (index (index (index a "b") c) "d") 1) 2)');
  t.equal(shape('(f)(1)'), '(call (paren f) 1)');
});

t.test('if, else if, elseif, else', async (t) => {
  const [plain] = statements('if (a) { f() }');
  t.match(plain, { kind: 'if', clauses: [{ condition: { kind: 'name', name: 'a' } }] });
  t.notOk(plain?.kind === 'if' && 'otherwise' in plain, 'no else block');

  const [chain] = statements('if (a) { f() } elseif (b) { } else if (c) { g() h() } else { i() }');
  t.equal(chain?.kind, 'if');
  if (chain?.kind === 'if') {
    t.strictSame(chain.clauses.map((clause) => sexp(clause.condition)), ['a', 'b', 'c']);
    t.strictSame(chain.clauses.map((clause) => block(clause.body)), [['call'], [], ['call', 'call']]);
    t.strictSame(block(chain.otherwise!), ['call']);
  }
  // `else if` is one chain, not an else block holding an if.
  const [elseIf] = statements('if (a) { } else if (b) { }');
  t.match(elseIf, { kind: 'if', clauses: [{}, {}] });
  t.notOk(elseIf?.kind === 'if' && 'otherwise' in elseIf);
});

t.test('loops, do, break, labels', async (t) => {
  const [loop] = statements('while (i < 3) { i += 1 break }');
  t.match(loop, { kind: 'while', line: 1 });
  if (loop?.kind === 'while') {
    t.equal(sexp(loop.condition), '(< i 3)');
    t.strictSame(block(loop.body), ['increment', 'break']);
  }
  // The braced and the unbraced repeat give the same tree.
  const braced = statements('repeat { i += 1 } until (i > 3)');
  const unbraced = statements('repeat i += 1 until (i > 3)');
  t.strictSame(braced, unbraced);
  t.match(braced[0], { kind: 'repeat', body: { statements: [{ kind: 'increment' }] }, condition: { kind: 'binary', operator: '>' } });
  t.strictSame(block((statements('repeat f() g() until (x)')[0] as { body: Block }).body), ['call', 'call']);

  const [counted, stepped] = statements('for (i = 1, 10) { } for (j = 10, 1, -1) { f(j) }');
  t.match(counted, { kind: 'fornum', variable: 'i', start: { value: 1 }, limit: { value: 10 } });
  t.notOk(counted !== undefined && 'step' in counted, 'no step');
  if (stepped?.kind === 'fornum') t.equal(sexp(stepped.step!), '(- 1)');
  else t.fail('fornum expected');

  const [keysOnly, pairs] = statements('for (k in pairs(t)) { } for (k, v in pairs(t)) { f(k, v) }');
  t.match(keysOnly, { kind: 'forin', key: 'k', iterator: { kind: 'call' } });
  t.notOk(keysOnly !== undefined && 'value' in keysOnly, 'no value variable');
  t.match(pairs, { kind: 'forin', key: 'k', value: 'v' });
  if (pairs?.kind === 'forin') t.equal(sexp(pairs.iterator), '(call pairs t)');

  const [group] = statements('do f() g() end');
  t.match(group, { kind: 'do' });
  if (group?.kind === 'do') t.strictSame(block(group.body), ['call', 'call']);

  t.strictSame(statements('::top:: ; ; break'), [{ kind: 'label', name: 'top', line: 1 }, { kind: 'break', line: 1 }]);
  // Statements after break are parsed (unreachable, not an error).
  const [unreachable] = statements('while (1) { break f() }');
  if (unreachable?.kind === 'while') t.strictSame(block(unreachable.body), ['break', 'call']);
  else t.fail('while expected');
});

t.test('return', async (t) => {
  t.strictSame(parse('f() return', 'test.kp').body, { statements: [statements('f()')[0]], returns: { line: 1 } });
  t.strictSame(parse('return;', 'test.kp').body, { statements: [], returns: { line: 1 } });
  const body = parse('var a = 1\nreturn a + 1;', 'test.kp').body;
  t.equal(sexp(body.returns!.value!), '(+ a 1)');
  t.equal(body.returns!.line, 2);
});

t.test('handlers keep their raw headers', async (t) => {
  const [read] = statements('trace syscalls:sys_enter_read /fd == 0/ {}');
  t.match(read, { kind: 'handler', handler: 'trace', header: 'syscalls:sys_enter_read /fd == 0/', func: { name: 'syscalls:sys_enter_read /fd == 0/', params: [] } });
  // Whitespace and what looks like comments or strings in a header are raw text.
  const [odd] = statements('trace   probe:do_sys_open dfd=%di filename=+0(%si):string  # x\n{ print(argstr) }');
  t.match(odd, { kind: 'handler', handler: 'trace', header: 'probe:do_sys_open dfd=%di filename=+0(%si):string  # x' });
  if (odd?.kind === 'handler') t.equal(sexp((odd.func.body.statements[0] as { call: Expression }).call), '(call print $argstr)');

  t.match(statements('tick-1s { }'), [{ kind: 'handler', handler: 'tick', header: 'tick-1s' }]);
  t.match(statements('profile - 10ms\n{ }'), [{ kind: 'handler', handler: 'profile', header: 'profile-10ms' }]);
  t.match(statements('trace_end { exit() }'), [{ kind: 'handler', handler: 'trace_end', header: 'trace_end', func: { name: 'trace_end' } }]);

  const [multiLine] = statements('\ntrace sched:sched_switch {\n  n += 1\n}\n');
  t.match(multiLine, { kind: 'handler', line: 2, func: { line: 2, lastLine: 4 } });
});

t.test('simple expressions and tables', async (t) => {
  t.equal(shape('nil'), 'nil');
  t.equal(shape('true'), 'true');
  t.equal(shape('false'), 'false');
  t.equal(shape('0x10'), '16');
  t.equal(shape('9223372036854775807'), '9223372036854775807n');
  t.equal(shape('"a\\tb"'), '"a\\tb"');
  t.equal(shape('[[long]]'), '"long"');
  t.equal(shape('function(a, b) { return a }'), '(function function (a b) 0)');
  t.strictSame(['pid', 'tid', 'uid', 'cpu', 'execname', 'probename', 'argstr', 'arg0', 'arg9'].map(shape),
    ['$pid', '$tid', '$uid', '$cpu', '$execname', '$probename', '$argstr', '$arg0', '$arg9']);
  t.equal(shape('{}'), '{}');
  t.equal(shape('{1, "two"; x = 3, ["k" .. 1] = 4, y, }'), '{1 "two" ["x"]=3 [(.. "k" 1)]=4 y}');
  t.equal(shape('{{1}, {a = {}}}'), '{{1} {["a"]={}}}');
  t.equal(shape('{x == 1}'), '{(== x 1)}', 'a name not followed by = is an expression');
});

t.test('precedence and associativity', async (t) => {
  const cases: Array<[string, string]> = [
    ['a .. b .. c', '(.. a (.. b c))'],
    ['a - b - c', '(- (- a b) c)'],
    ['a / b / c', '(/ (/ a b) c)'],
    ['a + b * c - d % e', '(- (+ a (* b c)) (% d e))'],
    ['!a == b', '(== (! a) b)'],
    ['!(a == b)', '(! (paren (== a b)))'],
    ['-x * y', '(* (- x) y)'],
    ['- -x', '(- (- x))'],
    ['!!a', '(! (! a))'],
    ['-x .. y', '(.. (- x) y)'],
    ['a < b == c', '(== (< a b) c)'],
    ['a <= b != c >= d', '(>= (!= (<= a b) c) d)'],
    ['a > b', '(> a b)'],
    ['a .. b == "ab"', '(== (.. a b) "ab")'],
    ['a + b .. c + d', '(.. (+ a b) (+ c d))'],
    ['a || b && c', '(|| a (&& b c))'],
    ['a && b || c && d', '(|| (&& a b) (&& c d))'],
    ['a || b || c', '(|| (|| a b) c)'],
    ['a && b && c', '(&& (&& a b) c)'],
    ['a == b && c < d || e', '(|| (&& (== a b) (< c d)) e)'],
    ['(a + b) * c', '(* (paren (+ a b)) c)'],
    ['-f(x).y', '(- (index (call f x) "y"))'],
    ['o:m(1) + 2', '(+ (method o m 1) 2)'],
    // Bit operators between comparison and `..`, as in Lua 5.4: | < ~ < & < shifts.
    ['a | b ~ c & d << e', '(| a (~ b (& c (<< d e))))'],
    ['a == b & c', '(== a (& b c))'],
    ['a & b + c', '(& a (+ b c))'],
    ['a >> b .. c', '(>> a (.. b c))'],
    ['a << b >> c >>> d', '(>>> (>> (<< a b) c) d)'],
    ['~a & ~-b', '(& (~ a) (~ (- b)))'],
    ['a ~ b ~ c', '(~ (~ a b) c)'],
    ['t[a, b + 1]', '(index t (tuple a (+ b 1)))'],
    ['t[a][b, c]', '(index (index t a) (tuple b c))'],
  ];
  for (const [source, expected] of cases) t.equal(shape(source), expected, source);
});

t.test('lines of nodes', async (t) => {
  const [statement] = statements('\n\nvar x = a +\n  b');
  t.match(statement, { kind: 'var', line: 3, values: [{ kind: 'binary', line: 3, left: { line: 3 }, right: { line: 4 } }] });
  const chunk = parse('f()\n\n', 'test.kp');
  t.equal(chunk.lastLine, 3);
});

t.test('bracket errors: with and without the opener line', async (t) => {
  t.equal(errorOf('if (a b) { }'), "syntax error: test.kp:1: ')' expected near 'b'");
  t.equal(errorOf('if (a\nb) { }'), "syntax error: test.kp:2: ')' expected (to close '(' at line 1) near 'b'");
  // `a { }` is a call with a table argument, so the `)` is missing at the end.
  t.equal(errorOf('if (a { }'), "syntax error: test.kp:1: ')' expected near '<eof>'");
  t.equal(errorOf('f(1,\n2'), "syntax error: test.kp:2: ')' expected (to close '(' at line 1) near '<eof>'");
  t.equal(errorOf('f(1, 2'), "syntax error: test.kp:1: ')' expected near '<eof>'");
  t.equal(errorOf('x = {1,\n2'), "syntax error: test.kp:2: '}' expected (to close '{' at line 1) near '<eof>'");
  t.equal(errorOf('while (x) {\n f()\n'), "syntax error: test.kp:3: '}' expected (to close '{' at line 1) near '<eof>'");
  t.equal(errorOf('do x = 1'), "syntax error: test.kp:1: 'end' expected near '<eof>'");
  t.equal(errorOf('do x = 1\n'), "syntax error: test.kp:2: 'end' expected (to close 'do' at line 1) near '<eof>'");
  t.equal(errorOf('repeat x = 1'), "syntax error: test.kp:1: 'until' expected near '<eof>'");
  t.equal(errorOf('repeat\nx = 1\n}'), "syntax error: test.kp:3: 'until' expected (to close 'repeat' at line 1) near '}'");
  t.equal(errorOf('a[1 = 2'), "syntax error: test.kp:1: ']' expected near '='");
  t.equal(errorOf('if x > 1 { }'), "syntax error: test.kp:1: '(' expected near 'x'");
  t.equal(errorOf('if (x) print(1)'), "syntax error: test.kp:1: '{' expected near 'print'");
  t.equal(errorOf('for (i = 0; i < 9; i += 1) { }'), "syntax error: test.kp:1: ',' expected near ';'");
  t.equal(errorOf('if (x) { return x print(1) }'), "syntax error: test.kp:1: '}' expected near 'print'");
  t.equal(errorOf('return 1 print(1)'), "syntax error: test.kp:1: '<eof>' expected near 'print'");
  t.equal(errorOf('trace foo'), "syntax error: test.kp:1: '{' expected near '<eof>'");
  t.equal(errorOf('tick 1s { }'), "syntax error: test.kp:1: malformed number near '1s'");
  t.equal(errorOf('tick { }'), "syntax error: test.kp:1: '-' expected near '{'");
  t.equal(errorOf('::a'), "syntax error: test.kp:1: '::' expected near '<eof>'");
  t.equal(errorOf('x = { [1] 2 }'), "syntax error: test.kp:1: '=' expected near '2'");
  t.equal(errorOf('a.b = 1 a + 1'), "syntax error: test.kp:1: '=' expected near '+'");
  t.equal(errorOf('x'), "syntax error: test.kp:1: '=' expected near '<eof>'");
  t.equal(errorOf('a, b += 1'), "syntax error: test.kp:1: '=' expected near '+='");
});

t.test('other syntax errors', async (t) => {
  t.equal(errorOf('for (i 1) { }'), "syntax error: test.kp:1: '=' or 'in' expected near '1'");
  t.equal(errorOf('for (k v in pairs(t)) { }'), "syntax error: test.kp:1: '=' or 'in' expected near 'v'");
  t.equal(errorOf('for (1) { }'), "syntax error: test.kp:1: <name> expected near '1'");
  t.equal(errorOf('function f(...) { }'), "syntax error: test.kp:1: <name> expected near '...'");
  t.equal(errorOf('function (a) { }'), "syntax error: test.kp:1: <name> expected near '('");
  t.equal(errorOf('var 1'), "syntax error: test.kp:1: <name> expected near '1'");
  t.equal(errorOf('var pid = 1'), "syntax error: test.kp:1: <name> expected near 'pid'");
  t.equal(errorOf('x = a.b.'), "syntax error: test.kp:1: <name> expected near '<eof>'");
  t.equal(errorOf('a = b\n(f)(1)'), 'syntax error: test.kp:2: ambiguous syntax (function call x new statement) near \'(\'');
  t.equal(errorOf('a = b (f)(1)'), 'no error', 'same line: a call');
  t.equal(errorOf('x = 2 ^ 3'), "syntax error: test.kp:1: ktap don't support pow arith near '^'");
  t.equal(errorOf('return 1, 2'), "syntax error: test.kp:1: don't support return multiple values near ','");
  t.equal(errorOf('function f() { return a, b }'), "syntax error: test.kp:1: don't support return multiple values near ','");
  t.equal(errorOf('print(...)'), "syntax error: test.kp:1: cannot use '...' outside a vararg function near '...'");
  t.equal(errorOf('ffi.C.getpid()'), 'syntax error: test.kp:1: ffi is not supported near \'ffi\'');
  t.equal(errorOf('x = ffi'), 'syntax error: test.kp:1: ffi is not supported near \'ffi\'');
  t.equal(errorOf('o:m'), "syntax error: test.kp:1: function arguments expected near '<eof>'");
  t.equal(errorOf('x = o:m + 1'), "syntax error: test.kp:1: function arguments expected near '+'");
  t.equal(errorOf('+'), "syntax error: test.kp:1: unexpected symbol near '+'");
  t.equal(errorOf('a =\n'), "syntax error: test.kp:2: unexpected symbol near '<eof>'");
  t.equal(errorOf('1 = 2'), "syntax error: test.kp:1: unexpected symbol near '1'");
  t.equal(errorOf('f() = 1'), "syntax error: test.kp:1: unexpected symbol near '='");
  t.equal(errorOf('"abc" .. x'), 'syntax error: test.kp:1: unexpected symbol near \'"abc"\'');
  t.equal(errorOf('x = & b'), "syntax error: test.kp:1: unexpected symbol near '&'");
  t.equal(errorOf('x = a @ b'), "syntax error: test.kp:1: unexpected symbol near '@'");
  t.equal(errorOf('x += 1, 2'), "syntax error: test.kp:1: unexpected symbol near ','");
  t.equal(errorOf('print(pid())'), "syntax error: test.kp:1: ')' expected near '('");
  t.equal(errorOf('print(execname[1])'), "syntax error: test.kp:1: ')' expected near '['");
  t.equal(errorOf('pid = 1'), "syntax error: test.kp:1: unexpected symbol near 'pid'");
  t.equal(errorOf('x = \x01'), "syntax error: test.kp:1: unexpected symbol near 'char(1)'");
  // Only the first error counts.
  // `1 + y` is read first, so the error is at the `=`.
  t.equal(errorOf('x = 1 +\ny = ^'), "syntax error: test.kp:2: unexpected symbol near '='");
});

t.test('nesting limits', async (t) => {
  const nested = (depth: number): string => `x = ${'('.repeat(depth)}1${')'.repeat(depth)}`;
  // `x = E` is one level for the block and one for the expression; each `(` adds one.
  t.equal(errorOf(nested(198)), 'no error', '200 levels');
  t.equal(errorOf(nested(199)), 'syntax error: test.kp:1: chunk has too many syntax levels', '201 levels');
  t.equal(errorOf(`\n\nx = {${'{'.repeat(300)}${'}'.repeat(300)}}`), 'syntax error: test.kp:3: chunk has too many syntax levels');
  t.equal(errorOf(`var x = 1 ${'if (x) { '.repeat(250)}${'}'.repeat(250)}`), 'syntax error: test.kp:1: chunk has too many syntax levels');
  // The level check is a † one: an ordinary syntax error later in the script wins.
  t.equal(errorOf(`${nested(250)}\nx = )`), "syntax error: test.kp:2: unexpected symbol near ')'");
  // Far too deep: a clean error, no stack overflow.
  t.equal(errorOf(nested(100_000)), 'syntax error: test.kp:1: chunk has too many syntax levels');
  t.equal(errorOf(`x = ${'- '.repeat(100_000)}1`), 'syntax error: test.kp:1: chunk has too many syntax levels');
  t.equal(errorOf(`x = ${'{'.repeat(100_000)}`), 'syntax error: test.kp:1: chunk has too many syntax levels');
  t.equal(errorOf(`x = "a"${' .. "a"'.repeat(100_000)}`), 'syntax error: test.kp:1: chunk has too many syntax levels');
  t.equal(errorOf(`${'if (x) { '.repeat(100_000)}`), 'syntax error: test.kp:1: chunk has too many syntax levels');
  // Long left-associative chains and call chains nest no syntax levels, but a syntax tree
  // deeper than the later passes can walk is refused the same way.
  t.equal(errorOf(`x = ${Array(1000).fill('1').join(' + ')}`), 'no error');
  t.equal(errorOf(`x = ${Array(100_000).fill('1').join(' + ')}`), 'syntax error: test.kp:1: chunk has too many syntax levels');
  t.equal(errorOf(`f${'(1)'.repeat(100_000)}`), 'syntax error: test.kp:1: chunk has too many syntax levels');
  t.equal(errorOf(`t${'.a'.repeat(100_000)} = 1`), 'syntax error: test.kp:1: chunk has too many syntax levels');
  t.equal(errorOf(`\nx = 1 ${'|| 1 '.repeat(100_000)}`), 'syntax error: test.kp:2: chunk has too many syntax levels');
});
