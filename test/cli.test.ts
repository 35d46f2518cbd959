// Whole-program tests of the `ktap` command (SPEC-product §1, §5, §7; SPEC §6, §7.1): the
// built binary run as a user runs it, with exact stdout, stderr and exit status, and never
// a JavaScript stack trace, whatever the input.

import t, { type Test } from 'tap';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OPTION_HELP } from '../src/cli/options';
import { BadBytecodeError } from '../src/vm/errors';
import { BYTECODE_MAGIC, readBytecodeFile } from '../src/vm/bytecode-file';
import { BUILTINS, GLOBAL_NAMES } from '../src/vm/lib/index';
import { OPCODES } from '../src/vm/opcodes';

const repoRoot = resolve(__dirname, '..');
const bundle = join(repoRoot, 'dist', 'ktap.js');

/** Newest modification time under `directory`. */
function newestChange(directory: string): number {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestChange(path) : statSync(path).mtimeMs);
  }
  return newest;
}

// Build only when the bundle is missing or stale: other test files may be running it now,
// and rewriting it under them could make them read half a file.
function bundleIsStale(): boolean {
  try {
    return statSync(bundle).mtimeMs < Math.max(newestChange(join(repoRoot, 'src')), statSync(join(repoRoot, 'build.mjs')).mtimeMs);
  } catch {
    return true;
  }
}
if (bundleIsStale()) {
  const built = spawnSync(process.execPath, ['build.mjs'], { cwd: repoRoot, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`node build.mjs failed:\n${built.stderr}`);
}

const scratch = mkdtempSync(join(tmpdir(), 'ktap-cli-test-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

let fileCount = 0;
/** Writes a script (text as bytes, latin1, so "\xff" is the byte 0xff) and returns its path. */
function script(content: string | Uint8Array, name = `script${++fileCount}.kp`): string {
  const path = join(scratch, name);
  writeFileSync(path, typeof content === 'string' ? Buffer.from(content, 'latin1') : content);
  return path;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Node's environment without tap's loader options, which must not reach the program under test. */
const environment = { ...process.env, NODE_OPTIONS: '' };

const spawnOptions = { cwd: repoRoot, env: environment, timeout: 30_000, maxBuffer: 64 * 1024 * 1024 };

/** Output is read as latin1 (one char a byte), so scripts' bytes ≥ 0x80 compare exactly. */
function outcome(result: SpawnSyncReturns<Buffer>): Run {
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout.toString('latin1'), stderr: result.stderr.toString('latin1') };
}

/** Runs `node bin/ktap ARGS` from the repository root. */
function ktap(args: readonly string[]): Run {
  return outcome(spawnSync(process.execPath, [join('bin', 'ktap'), ...args], spawnOptions));
}

/** Runs a shell command line from the repository root. */
function shell(command: string): Run {
  return outcome(spawnSync('sh', ['-c', command], spawnOptions));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Asserts the whole outcome of a run, and that neither stream shows a JS failure. */
function expectRun(t: Test, run: Run, expected: { stdout?: string; stderr?: string; status?: number }, what: string): void {
  noStackTrace(t, run, what);
  t.equal(run.stdout, expected.stdout ?? '', `${what}: stdout`);
  t.equal(run.stderr, expected.stderr ?? '', `${what}: stderr`);
  t.equal(run.status, expected.status ?? 0, `${what}: exit status`);
}

function noStackTrace(t: Test, run: Run, what: string): void {
  for (const [stream, text] of [['stdout', run.stdout], ['stderr', run.stderr]] as const) {
    t.notMatch(text, /^ {4}at /m, `${what}: no stack trace on ${stream}`);
    t.notMatch(text, /internal error|Error:|TypeError|RangeError/, `${what}: no JS error on ${stream}`);
  }
}

t.test('files that cannot be run', async (t) => {
  const missing = join(scratch, 'no-such-script.kp');
  expectRun(t, ktap([missing]), { stderr: `error: cannot open ${missing}: No such file or directory\n`, status: 1 }, 'missing file');

  const directory = join(scratch, 'a-directory.kp');
  mkdirSync(directory);
  const run = ktap([directory]);
  noStackTrace(t, run, 'directory');
  t.match(run.stderr, new RegExp(`^error: [^\\n]*${escapeRegExp(directory)}[^\\n]*\\n$`), 'directory: one error line naming it');
  t.equal(run.stdout, '');
  t.equal(run.status, 1);

  const empty = script('');
  expectRun(t, ktap([empty]), { stderr: `warning: ${empty} is empty\n` }, 'empty file');

  // An ELF header: DEL is a control byte, shown as char(127).
  const elf = script(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x3e, 0x00]));
  expectRun(t, ktap([elf]), { stderr: `syntax error: ${elf}:1: unexpected symbol near 'char(127)'\n`, status: 255 }, 'binary junk');
  // Bytes >= 0x80 are letters: a name, then junk on the next line.
  const junk = script('\xff\xfe\xfd\n\x01\x02');
  expectRun(t, ktap([junk]), { stderr: `syntax error: ${junk}:2: '=' expected near 'char(1)'\n`, status: 255 }, 'high bytes then control bytes');
});

t.test('pathologically deep scripts are compile errors, not crashes', async (t) => {
  // Files, not -e: one argument may not exceed 128 KiB.
  const cases: Array<[string, string, number]> = [
    ['nested parentheses', `var x = ${'('.repeat(100_000)}1${')'.repeat(100_000)}`, 1],
    ['a long sum', `var x = 1\nx = ${Array(100_000).fill('x').join(' + ')}`, 2],
    ['a long call chain', `print${'(1)'.repeat(100_000)}`, 1],
  ];
  for (const [what, source, line] of cases) {
    const path = script(source);
    expectRun(t, ktap([path]), { stderr: `syntax error: ${path}:${line}: chunk has too many syntax levels\n`, status: 255 }, what);
  }
  expectRun(t, ktap(['-e', `var x = ${Array(1000).fill('1').join(' + ')}\nprint(x)`]), { stdout: '1000\n' }, 'a long sum within the limit');
});

t.test('options', async (t) => {
  expectRun(t, ktap(['--bogus']), { stderr: "error: unknown option '--bogus' (see 'ktap -h')\n", status: 1 }, 'unknown long option');
  expectRun(t, ktap(['-Z', '-e', 'print(1)']), { stderr: "error: unknown option '-Z' (see 'ktap -h')\n", status: 1 }, 'unknown short option');
  expectRun(t, ktap(['-e', 'print(1 +)']), { stderr: "syntax error: (command line):1: unexpected symbol near ')'\n", status: 255 }, '-e compile error');
  expectRun(t, ktap(['-e', 'print("one")\nprint(two)']), { stderr: "syntax error: (command line):2: undefined global variable 'two'\n", status: 255 }, '-e † error');
  expectRun(t, ktap(['-e', 'print(1 + 1) print("two")']), { stdout: '2\ntwo\n' }, '-e');

  const version = ktap(['-V']);
  noStackTrace(t, version, '-V');
  t.match(version.stdout, /^ktap \d+\.\d+\.\d+[^\n]*\n$/, '-V: one line with the version');
  t.notMatch(version.stdout, /FFI/, '-V does not claim FFI');
  t.equal(version.stderr, '');
  t.equal(version.status, 0);
});

t.test('-h lists every option and every builtin', async (t) => {
  const help = ktap(['-h']);
  noStackTrace(t, help, '-h');
  t.equal(help.status, 0);
  t.equal(help.stderr, '');
  const lines = help.stdout.split('\n');
  const listed = (name: string): boolean => lines.some((line) => line.trimStart().startsWith(name) && /^[\s([,]|$/.test(line.trimStart().slice(name.length)));

  // The options of SPEC-product §1 (and the limits of §6) must all be in the option table.
  const specified = ['-e', '-o', '-p', '-C', '-T', '-q', '-v', '-d', '-s', '-b', '-le', '-lf', '-lm', '-V', '-h', '-i', '--tui', '--json', '--save-bytecode', '--', '--max-instructions', '--max-event-instructions', '--max-depth', '--max-table-entries', '--max-string'];
  const implemented = OPTION_HELP.map(([option]) => option.split(' ')[0]!);
  for (const option of specified) t.ok(implemented.includes(option), `option table has ${option}`);
  for (const option of implemented) t.ok(listed(option), `-h lists ${option}`);

  t.ok(BUILTINS.length >= 10, 'the registry has builtins');
  for (const builtin of BUILTINS) {
    const name = builtin.library === undefined ? builtin.name : `${builtin.library}.${builtin.name}`;
    t.ok(listed(name), `-h lists ${name}`);
  }
});

t.test('scripts: #! line, arg, -o, -q', async (t) => {
  const shebang = script('#!/usr/bin/env ktap\nprint("ran")\n');
  expectRun(t, ktap([shebang]), { stdout: 'ran\n' }, '#! first line');

  const args = script('print(arg[1] + 1)\nprint(arg[2])\nprint(arg[0])\nprint(arg[3])\n');
  expectRun(t, ktap([args, '5', 'eth0']), { stdout: `6\neth0\n${args}\nnil\n` }, 'arg table');

  const output = join(scratch, 'output.txt');
  const writes = script('print("to the file")\nprintf("%d|%s\\n", 42, "x")\nvar zero = 0\nprint(1 / zero)\n');
  expectRun(t, ktap(['-o', output, writes]), {}, '-o FILE');
  t.equal(readFileSync(output, 'latin1'), `to the file\n42|x\nerror: ${writes}:4: divide 0 arith operation\n`, '-o FILE: the script output, runtime error included');
  const unwritable = join(scratch, 'no-such-dir', 'out.txt');
  const refused = ktap(['-o', unwritable, writes]);
  noStackTrace(t, refused, '-o into a missing directory');
  t.equal(refused.status, 1);
  t.match(refused.stderr, /^error: [^\n]*no-such-dir[^\n]*\n$/);

  const ticking = 'tick-1ms { print("tick") exit() }';
  expectRun(t, ktap(['-e', ticking]), { stdout: 'Tracing... Hit Ctrl-C to end.\ntick\n' }, 'banner with a timer');
  expectRun(t, ktap(['-q', '-e', ticking]), { stdout: 'tick\n' }, '-q');
});

t.test('-b prints a listing and runs nothing', async (t) => {
  const path = script('var n = 0\nfunction bump(k) {\n  n += k\n  return n\n}\nprint(bump(2))\n');
  const run = ktap(['-b', path]);
  noStackTrace(t, run, '-b');
  t.equal(run.status, 0);
  t.equal(run.stderr, '');
  t.notMatch(run.stdout, /^2$/m, 'the script did not run');
  t.match(run.stdout, new RegExp(`^function 'main' <${escapeRegExp(path)}:\\d+,\\d+>`), 'main function header');
  t.match(run.stdout, /^function 'bump' </m, 'nested function header');
  const opcodeNames = new Set(OPCODES.map((info) => info.name));
  const used = [...run.stdout.matchAll(/^\s+\d+\s+\[\d+\]\s+([A-Z_]+)/gm)].map((match) => match[1]!);
  t.ok(used.length >= 8, `${used.length} instruction lines`);
  t.strictSame(used.filter((name) => !opcodeNames.has(name)), [], 'every listed opcode is in the opcode table');
  for (const name of ['GETGLOBAL', 'CALL', 'CLOSURE']) t.ok(used.includes(name), `listing shows ${name}`);

  const bad = script('print(');
  expectRun(t, ktap(['-b', bad]), { stderr: `syntax error: ${bad}:1: unexpected symbol near '<eof>'\n`, status: 255 }, '-b of a bad script');
});

/** Scripts whose output must not change when they run from a saved bytecode file. */
const ROUND_TRIP_SCRIPTS: Record<string, string> = {
  closures: `
function counter(step) {
  var total = 0
  return function() { total += step return total }
}
var c = counter(3)
c()
print("counter", c(), counter(1)())
var makers = {}
for (i = 1, 3) { makers[i] = function() { return i * 10 } }
print(makers[1](), makers[2](), makers[3]())
function fib(n) { if (n < 2) { return n } return fib(n - 1) + fib(n - 2) }
print(fib(15))
`,
  tables: `
var t = { 10, 20, 30, x = "ex", ["y z"] = true }
t[4] = 40
t.x = nil
var sum = 0
var keys = 0
for (k, v in pairs(t)) { keys += 1 if (k == 1 || k == 2 || k == 3 || k == 4) { sum += v } }
print(len(t), keys, sum, t["y z"], t.x)
var h = {}
var words = { "a", "b", "a", "c", "a", "b" }
for (i = 1, len(words)) { h[words[i]] += 1 }
print_hist(h)
var nested = { inner = { deep = { 1, 2 } } }
print(nested.inner.deep[2])
`,
  strings: `
var s = "caf\\xc3\\xa9 \\xff\\x80\\x00end\\t\\"q\\"\\65\\066"
print(s, len(s))
printf("%s|%5d|%-3s|%x|%c\\n", "\\xfe", 42, "ab", 255, 65)
print("a" .. 1 .. "\\x80" .. [[raw\\n]])
print(9223372036854775807, -9223372036854775807 - 1, 0x7fffffffffffffff + 1)
var r = ""
for (i = 1, 5) { r = r .. stringof(i) }
print(r)
`,
  control: `
var i = 0
repeat { i += 1 } until (i >= 4)
while (i < 10) { i += 2 if (i == 8) { break } }
print(i)
var n = 0
do n = 5 end
::label::
if (n > 9) { print("big") } else if (n > 4) { print("medium") } else { print("small") }
print(!nil == true, 7 % 3, -7 / 2)
trace_end { print("end") }
`,
  runtimeError: `
print("before")
var t = nil
print(t.x)
print("after")
`,
};

t.test('--save-bytecode then running the file gives the same output', async (t) => {
  for (const [name, source] of Object.entries(ROUND_TRIP_SCRIPTS)) {
    const path = script(source, `${name}.kp`);
    const saved = join(scratch, `${name}.kpc`);
    expectRun(t, ktap(['--save-bytecode', saved, path]), {}, `${name}: save`);
    const bytes = readFileSync(saved);
    t.same([...bytes.subarray(0, BYTECODE_MAGIC.length)], [...BYTECODE_MAGIC], `${name}: magic`);
    const direct = ktap([path]);
    noStackTrace(t, direct, `${name}: source`);
    t.equal(direct.stderr, '', `${name}: runs cleanly`);
    t.not(direct.stdout, '', `${name}: prints something`);
    expectRun(t, ktap([saved]), { stdout: direct.stdout, stderr: direct.stderr, status: direct.status ?? -1 }, `${name}: from bytecode`);
  }
  // The byte strings survive exactly.
  const strings = ktap([join(scratch, 'strings.kpc')]);
  t.ok(strings.stdout.startsWith('caf\xc3\xa9 \xff\x80\x00end\t"q"AB\t18\n'), 'string bytes from the bytecode file');
});

t.test('damaged bytecode files', async (t) => {
  const source = script(ROUND_TRIP_SCRIPTS.closures!, 'damaged.kp');
  const saved = join(scratch, 'damaged.kpc');
  expectRun(t, ktap(['--save-bytecode', saved, source]), {}, 'save');
  const good = new Uint8Array(readFileSync(saved));

  /** The reason the loader gives in process, which the CLI must print verbatim. */
  const reason = (bytes: Uint8Array): string | undefined => {
    try {
      readBytecodeFile(bytes, GLOBAL_NAMES);
      return undefined;
    } catch (error) {
      if (error instanceof BadBytecodeError) return error.message;
      throw error;
    }
  };
  t.equal(reason(good), undefined, 'the saved file loads');

  // A flipped byte may land where any value is valid (a line number, a name): use the
  // detectable flip nearest the middle.
  const middle = good.length >> 1;
  let flipped: Uint8Array | undefined;
  for (let distance = 0; flipped === undefined && distance < middle; distance++) {
    for (const offset of [middle - distance, middle + distance]) {
      const candidate = good.slice();
      candidate[offset]! ^= 0xff;
      if (reason(candidate) !== undefined) {
        flipped = candidate;
        break;
      }
    }
  }
  const wrongVersion = good.slice();
  wrongVersion[BYTECODE_MAGIC.length] = 99;
  const damaged: Array<[string, Uint8Array]> = [
    ['truncated', good.subarray(0, middle)],
    ['truncated after the magic', good.subarray(0, BYTECODE_MAGIC.length)],
    ['a flipped byte', flipped!],
    ['wrong version', wrongVersion],
    ['trailing bytes', Uint8Array.from([...good, 0])],
  ];
  for (const [what, bytes] of damaged) {
    const why = reason(bytes);
    t.type(why, 'string', `${what}: rejected in process`);
    const path = script(bytes, `damaged-${what.replace(/ /g, '-')}.kpc`);
    expectRun(t, ktap([path]), { stderr: `error: bad bytecode file: ${why}\n`, status: 1 }, what);
  }
  t.equal(reason(wrongVersion), 'unsupported version 99');
});

t.test('--json output (SPEC §7.1)', async (t) => {
  const path = script(`
print(1, "caf\\xc3\\xa9\\xff", nil, true, false, 9007199254740991, -9007199254740991, 9007199254740993, -9223372036854775807 - 1)
print({}, print)
print()
printf("%d-%s\\n", 3, "\\x80")
var h = {}
h.a = 3
h.b = 5
h[7] = 1
print_hist(h)
print_hist(h, 2)
var zero = 0
print(1 / zero)
print("not reached")
`);
  const run = ktap(['--json', path]);
  noStackTrace(t, run, '--json');
  t.equal(run.status, 0);
  t.equal(run.stderr, '');
  const lines = run.stdout.split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  const objects = lines.map((line) => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      t.fail(`not JSON: ${line}`);
      return undefined;
    }
  });
  t.equal(lines.length, 7, 'one line per output, none after the error');
  // stdout is read as latin1: "\xc3\xa9" is the UTF-8 "é", written as it is.
  t.equal(lines[0], '{"type":"print","values":[1,"caf\xc3\xa9\\u00ff",null,true,false,9007199254740991,-9007199254740991,"9007199254740993","-9223372036854775808"]}',
    'numbers beyond 2^53 as strings; UTF-8 kept, other bytes as \\u00XX');
  const decoded = JSON.parse(Buffer.from(lines[0]!, 'latin1').toString('utf8')) as { values: unknown[] };
  t.equal(decoded.values[1], 'caf\u00e9\u00ff', 'the line is UTF-8 JSON');
  t.match(objects[1], { type: 'print', values: [{ ref: /^table 0x[0-9a-f]+$/ }, { ref: /^cfunction 0x[0-9a-f]+$/ }] }, 'tables and functions as refs');
  t.strictSame(objects[2], { type: 'print', values: [] });
  t.equal(lines[3], '{"type":"printf","text":"3-\\u0080\\n"}');
  t.strictSame(objects[4], { type: 'hist', rows: [{ key: 'b', count: 5 }, { key: 'a', count: 3 }, { key: 7, count: 1 }], more: 0 });
  t.strictSame(objects[5], { type: 'hist', rows: [{ key: 'b', count: 5 }, { key: 'a', count: 3 }], more: 1 });
  t.strictSame(objects[6], { type: 'error', message: 'divide 0 arith operation', chunk: path, line: 13 });

  const banner = ktap(['--json', '-e', 'tick-1ms { print("t") exit() }']);
  expectRun(t, banner, { stdout: '{"type":"banner"}\n{"type":"print","values":["t"]}\n' }, '--json banner');
});

t.test('the original ktap suite\'s runtime-error expectations (its test/*.t, matched unanchored on stdout)', async (t) => {
  const zeroDivide = ktap(['-e', 'var a = 1/0\nprint("failed")']);
  const stackOverflow = ktap(['-e', 'function f(a) {\n  return 1 + f(a+1)\n}\nprint(f(0))']);
  t.match(zeroDivide.stdout, /divide 0/, 'zerodivide.t: (.*)divide 0(.*)');
  t.match(stackOverflow.stdout, /stack overflow/, 'stack_overflow.t: (.*)stack overflow(.*)');
  // deadloop.t wants the message right after `error: `: the pointed form puts FILE:LINE there.
  const deadLoop = 'while (1) {}';
  t.notMatch(ktap(['-e', deadLoop]).stdout, /error: loop execute count exceed max limit/, 'deadloop.t needs --bare-errors');
  t.match(ktap(['--bare-errors', '-e', deadLoop]).stdout, /error: loop execute count exceed max limit/, 'deadloop.t: passes with --bare-errors');
});

t.test('runtime errors', async (t) => {
  const source = 'print(1)\nvar zero = 0\nprint(1 / zero)\nprint(2)\n';
  expectRun(t, ktap(['-e', source]), { stdout: '1\nerror: (command line):3: divide 0 arith operation\n' }, 'without -v: CHUNK:LINE on the script output');
  expectRun(t, ktap(['--bare-errors', '-e', source]), { stdout: '1\nerror: divide 0 arith operation\n' }, '--bare-errors: ktap\'s form');
  expectRun(t, ktap(['--bare-errors', '--max-depth', '5', '-e', 'function f() { return 1 + f() } f()']), { stdout: 'error: stack overflow\n' },
    '--bare-errors: no limit option either');
  expectRun(t, ktap(['--max-depth', '5', '-e', 'function f() { return 1 + f() } f()']), { stdout: 'error: (command line):1: stack overflow (--max-depth 5)\n' },
    'a limit error names its option');
  const verbose = ktap(['-v', '-e', source]);
  noStackTrace(t, verbose, '-v');
  t.equal(verbose.stdout, '1\nerror: (command line):3: divide 0 arith operation\n', '-v: the same script output');
  t.match(verbose.stderr, /^\(command line\):3\b[^\n]*\n$/, '-v: CHUNK:LINE on stderr');
  t.equal(verbose.status, 0);

  const path = script('var t = {}\n\ntick-1ms {\n  t.x.y = 1\n}\n');
  const inHandler = ktap(['-v', '-q', path]);
  noStackTrace(t, inHandler, '-v in a handler');
  t.equal(inHandler.stdout, `error: ${path}:4: set key to non-table\n`);
  t.ok(inHandler.stderr.startsWith(`${path}:4`), '-v in a handler: CHUNK:LINE');
  t.match(inHandler.stderr, /^[^\n]*tick-1ms[^\n]*\n$/, '-v in a handler: one line with the timer header');
  t.equal(inHandler.status, 0);
});

t.test('output through pipes', async (t) => {
  // The reader goes away after one line: no EPIPE trace, no hang.
  const closed = shell(`${JSON.stringify(process.execPath)} bin/ktap -e 'for (i = 1, 100000) { print(i) }' | head -1`);
  expectRun(t, closed, { stdout: '1\n' }, 'pipe closed early');

  const lineCount = 200_000;
  const large = ktap(['-e', `for (i = 1, ${lineCount}) { print(i) }`]);
  noStackTrace(t, large, 'large output');
  t.equal(large.status, 0);
  t.equal(large.stderr, '');
  const lines = large.stdout.split('\n');
  t.equal(lines.length, lineCount + 1, `${lineCount} lines`);
  t.equal(lines[lineCount - 1], String(lineCount), 'the last line');
  t.equal(lines[lineCount], '', 'complete last line');
  let inOrder = true;
  for (let i = 0; i < lineCount && inOrder; i++) inOrder = lines[i] === String(i + 1);
  t.ok(inOrder, 'every line, in order');

  const output = join(scratch, 'large.txt');
  expectRun(t, ktap(['-o', output, '-e', `for (i = 1, ${lineCount}) { printf("%d\\n", i) }`]), {}, 'large output to a file');
  t.equal(readFileSync(output, 'latin1'), large.stdout, 'same output through -o');
});

t.test('a reader slower than ktap still gets all of the output', async (t) => {
  // The reader starts reading only after ktap has written everything and returned: what the
  // pipe could not take at once (64 KiB) is still queued in ktap when it ends.
  const node = JSON.stringify(process.execPath);
  const slowly = (command: string): Run => shell(`${command} | (sleep 1; wc -c)`);
  const constructor = script(`var t = {${Array.from({ length: 30_000 }, (_, index) => index).join(',')}}\n`);
  const listing = ktap(['-b', constructor]);
  t.ok(listing.stdout.length > 1 << 20, `a big listing (${listing.stdout.length} bytes)`);
  expectRun(t, slowly(`${node} bin/ktap -b ${constructor}`), { stdout: `${listing.stdout.length}\n` }, '-b FILE, read late');
  // The REPL shows a value with a write Node may queue.
  const input = script('var s = "' + 'x'.repeat(30_000) + '"\nfor (i = 1, 3) { s = s .. s }\ns\n');
  expectRun(t, slowly(`${node} bin/ktap -i < ${input}`), { stdout: `${240_000 + 1}\n` }, 'a 240 KB value at the REPL, read late');
  expectRun(t, shell(`${node} bin/ktap -i < ${input} | head -c 10`), { stdout: 'x'.repeat(10) }, 'and a reader that goes away: exit 0, quietly');
});
