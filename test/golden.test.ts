// Golden tests: runs every test/golden/**/*.kp through the real CLI, as a user would, and
// compares stdout, stderr and the exit status with expectations written in the script.
//
// Expectations are `#` comments, usually on the line of the statement that produces them
// (clox style): `print(1 + 2)  # expect: 3`.
//
//   # expect: TEXT         one line of script output. All `# expect:` lines, in file order,
//                          each followed by "\n", must equal the whole stdout byte for byte.
//                          A file without one expects empty stdout.
//   # expect-no-newline    stdout ends without the final "\n" (the last line is partial).
//   # expect-stderr: TEXT  one line of stderr, same rules; none given = stderr is empty.
//   # expect-error: MSG    one line of script output: the runtime error `error: PATH:LINE: MSG`,
//                          PATH this file's, LINE the line the comment is on.
//   # expect-syntax-error: MSG  one line of stderr: `syntax error: PATH:LINE: MSG`.
//                          Both take `[line N]` before the colon when the error is reported
//                          at another line (`# expect-syntax-error [line 5]: ...`), so a
//                          golden never spells its own path or line: renaming or moving it
//                          changes nothing.
//   # expect-exit: N       exit status (default 0).
//   # args: OPTS           CLI options placed before the file (`-v`, `--max-depth 50`).
//   # script-args: ARGS    arguments placed after the file (they become arg[1]...).
//   # no-file              do not pass the file at all (for `# args: -e '...'`).
//   # timeout: SECONDS     kill the run after this long (default 20).
//   # send-signal: SIG S   send signal SIG (SIGINT, SIGTERM) to ktap, as a user pressing
//                          Ctrl-C would, S seconds after its first output on stdout (so
//                          that a loaded machine cannot make it arrive before the session
//                          is set up: the script must write something, e.g. the banner).
//
// TEXT is what follows `expect:` and one space; trailing blanks are dropped, so a
// trailing space is written `\s`. Escapes in TEXT: `\t` TAB, `\e` ESC (0x1b), `\s` space,
// `\n` a line break inside one expectation, `\xHH` any byte, `\\` a backslash, `\F` the
// script's own path (for output that names it: arg[0], a JSON error's chunk); any other
// backslash sequence is a mistake in the test and fails it. OPTS/ARGS are split on
// blanks; '…' and "…" quote (inside "…", \" and \\ escape).
//
// The program is `node bin/ktap ARGS test/golden/DIR/FILE.kp SCRIPTARGS`, run from the repo
// root so that chunk names in messages are the repo-relative path. Runs go 4 at a time.
// KTAP_GOLDEN=substring runs only the files whose path contains it; KTAP_GOLDEN_CMD
// replaces `node bin/ktap` (e.g. with a fake to check this runner).
import t from 'tap';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const repoRoot = resolve(__dirname, '..');
const goldenDir = join(repoRoot, 'test', 'golden');
const parallelRuns = 4;
const defaultTimeoutSeconds = 20;

export interface Expectations {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
  args: string[];
  scriptArgs: string[];
  passFile: boolean;
  timeoutSeconds: number;
  signal?: { name: NodeJS.Signals; afterSeconds: number };
}

/** Decodes the escapes of an expectation's TEXT into bytes (`\F`: the script's path). */
export function decodeText(text: string, path = ''): Buffer {
  const parts: Buffer[] = [];
  let plain = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '\\') {
      plain += c;
      continue;
    }
    const next = text[++i];
    if (next === 't') plain += '\t';
    else if (next === 'e') plain += '\x1b';
    else if (next === 's') plain += ' ';
    else if (next === 'n') plain += '\n';
    else if (next === '\\') plain += '\\';
    else if (next === 'F') plain += path;
    else if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      parts.push(Buffer.from(plain, 'utf8'), Buffer.from([parseInt(text.slice(i + 1, i + 3), 16)]));
      plain = '';
      i += 2;
    } else throw new Error(`unknown escape '\\${next ?? ''}' in expectation: ${text}`);
  }
  parts.push(Buffer.from(plain, 'utf8'));
  return Buffer.concat(parts);
}

/** Splits an options line like a shell would, for the simple quoting we need. */
export function splitArgs(line: string): string[] {
  const args: string[] = [];
  let current: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === ' ' || c === '\t') {
      if (current !== null) args.push(current);
      current = null;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unclosed ' in: ${line}`);
      current = (current ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      current = current ?? '';
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) i++;
        current += line[i];
      }
      if (i >= line.length) throw new Error(`unclosed " in: ${line}`);
    } else current = (current ?? '') + c;
  }
  if (current !== null) args.push(current);
  return args;
}

const directive = /#\s*(expect-stderr|expect-exit|expect-error|expect-syntax-error|expect|script-args|args|timeout|send-signal)(?:\s+\[line (\d+)\])?:(.*)$/;
const flag = /#\s*(expect-no-newline|no-file)\s*$/;

/** Reads the expectations out of the source of the script at `path` (repo-relative). */
export function parseExpectations(source: string, path: string): Expectations {
  const stdoutLines: Buffer[] = [];
  const stderrLines: Buffer[] = [];
  const found: Expectations = {
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
    exitCode: 0,
    args: [],
    scriptArgs: [],
    passFile: true,
    timeoutSeconds: defaultTimeoutSeconds,
  };
  let noNewline = false;
  source.split(/\r\n|\n\r|\n|\r/).forEach((line, index) => {
    const d = directive.exec(line);
    if (d) {
      const value = d[3].replace(/^ /, '').replace(/[ \t]+$/, '');
      const where = `${path}:${d[2] ?? index + 1}: `;
      switch (d[1]) {
        case 'expect': stdoutLines.push(decodeText(value, path)); break;
        case 'expect-error': stdoutLines.push(decodeText(`error: ${where}${value}`, path)); break;
        case 'expect-stderr': stderrLines.push(decodeText(value, path)); break;
        case 'expect-syntax-error': stderrLines.push(decodeText(`syntax error: ${where}${value}`, path)); break;
        case 'expect-exit': found.exitCode = Number(value); break;
        case 'args': found.args.push(...splitArgs(value)); break;
        case 'script-args': found.scriptArgs.push(...splitArgs(value)); break;
        case 'timeout': found.timeoutSeconds = Number(value); break;
        case 'send-signal': {
          const [name, seconds] = splitArgs(value);
          found.signal = { name: name as NodeJS.Signals, afterSeconds: Number(seconds) };
          break;
        }
      }
      return;
    }
    const f = flag.exec(line);
    if (f?.[1] === 'expect-no-newline') noNewline = true;
    else if (f?.[1] === 'no-file') found.passFile = false;
  });
  const joinLines = (lines: Buffer[], finalNewline: boolean) =>
    lines.length === 0 ? Buffer.alloc(0)
      : Buffer.concat(lines.flatMap((l, i) =>
        i < lines.length - 1 || finalNewline ? [l, Buffer.from('\n')] : [l]));
  found.stdout = joinLines(stdoutLines, !noNewline);
  found.stderr = joinLines(stderrLines, true);
  return found;
}

/** Shows bytes in the expectation syntax, one output line per line, so a diff reads well
 * and a correct actual output can be pasted back as expectations. Injective on bytes. */
export function render(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  const utf8 = Buffer.from(text, 'utf8').equals(bytes);
  const chars = utf8 ? Array.from(text) : Array.from(bytes, b => String.fromCharCode(b));
  let out = '';
  for (const ch of chars) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\x1b') out += '\\e';
    else if (ch === '\n') out += '\n';
    else if (code < 0x20 || code === 0x7f || (!utf8 && code >= 0x80))
      out += '\\x' + code.toString(16).padStart(2, '0');
    else out += ch;
  }
  out = out.replace(/ +(?=\n|$)/g, spaces => '\\s'.repeat(spaces.length));
  if (bytes.length > 0 && !out.endsWith('\n')) out += '\n(no final newline)\n';
  return out;
}

// The environment of a user's shell, without tap's variables. tap's process-info hook
// also re-adds its loader to NODE_OPTIONS of every child it sees spawned (it would triple
// the cost of each run), so the command starts under `env -u NODE_OPTIONS`.
const userEnvironment = Object.fromEntries(Object.entries(process.env)
  .filter(([name]) => name !== 'NODE_OPTIONS' && !/^_?TAP/.test(name)));
const withoutLoaders = ['env', '-u', 'NODE_OPTIONS'];

interface RunResult { stdout: Buffer; stderr: Buffer; exitCode: number | null; signal: string | null; timedOut: boolean }

function run(command: string[], timeoutSeconds: number, signal?: Expectations['signal']): Promise<RunResult> {
  return new Promise(done => {
    const child = spawn(withoutLoaders[0], [...withoutLoaders.slice(1), ...command], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: userEnvironment,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutSeconds * 1000);
    let signalTimer: NodeJS.Timeout | undefined;
    child.stdout.on('data', chunk => {
      if (signal && signalTimer === undefined)
        signalTimer = setTimeout(() => child.kill(signal.name), signal.afterSeconds * 1000);
      stdout.push(chunk);
    });
    child.stderr.on('data', chunk => stderr.push(chunk));
    child.on('error', error => {
      clearTimeout(timer);
      clearTimeout(signalTimer);
      done({ stdout: Buffer.alloc(0), stderr: Buffer.from(String(error)), exitCode: null, signal: null, timedOut });
    });
    child.on('close', (exitCode, killedBy) => {
      clearTimeout(timer);
      clearTimeout(signalTimer);
      done({ stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), exitCode, signal: killedBy, timedOut });
    });
  });
}

/** Runs tasks with at most `limit` in flight; results keep their order. */
function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T>[] {
  const settle: ((run: () => Promise<T>) => void)[] = [];
  const results = tasks.map(() => new Promise<T>((resolve, reject) => {
    settle.push(run => { Promise.resolve().then(run).then(resolve, reject); });
  }));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      settle[index](tasks[index]);
      await results[index].catch(() => undefined);
    }
  };
  for (let i = 0; i < limit; i++) void worker();
  return results;
}

function findScripts(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findScripts(path));
    else if (entry.name.endsWith('.kp')) found.push(path);
  }
  return found;
}

const baseCommand = process.env.KTAP_GOLDEN_CMD
  ? splitArgs(process.env.KTAP_GOLDEN_CMD)
  : [process.execPath, 'bin/ktap'];
const only = process.env.KTAP_GOLDEN ?? '';
const scripts = findScripts(goldenDir)
  .map(path => relative(repoRoot, path).split('\\').join('/'))
  .filter(path => path.includes(only));

t.test('runner: expectation syntax', async t => {
  const e = parseExpectations([
    '# args: -v --max-depth 50 -e \'print("a b")\'',
    '# script-args: 5 "x y"',
    'printf("a\\tb ")  # expect: a\\tb\\s',
    'print("x")  #expect: \\e[0;0m\\x00\\\\   ',
    '# expect:',
    '# expect-stderr: oops',
    '# expect-exit: 255',
    '# expect-no-newline',
    '# send-signal: SIGINT 0.5',
    'x = 1 / 0  # expect-error: divide 0 arith operation',
    '# expect-syntax-error [line 3]: \'=\' expected near \'<eof>\'',
  ].join('\n'), 'test/golden/a.kp');
  t.same(e.signal, { name: 'SIGINT', afterSeconds: 0.5 });
  t.same(e.args, ['-v', '--max-depth', '50', '-e', 'print("a b")']);
  t.same(e.scriptArgs, ['5', 'x y']);
  t.equal(e.stdout.toString('latin1'), 'a\tb \n\x1b[0;0m\x00\\\n\nerror: test/golden/a.kp:10: divide 0 arith operation');
  t.equal(e.stderr.toString(), 'oops\nsyntax error: test/golden/a.kp:3: \'=\' expected near \'<eof>\'\n');
  t.equal(e.exitCode, 255);
  t.equal(render(Buffer.from('a \tb\x1b\\\n \xff', 'latin1')), 'a \\tb\\e\\\\\n \\xff\n(no final newline)\n');
  t.equal(render(Buffer.from('x  \ny \n')), 'x\\s\\s\ny\\s\n');
  t.throws(() => decodeText('\\q'));
});

const runs = pool(scripts.map(script => () => {
  const e = parseExpectations(readFileSync(join(repoRoot, script), 'utf8'), script);
  const command = [...baseCommand, ...e.args, ...(e.passFile ? [script] : []), ...e.scriptArgs];
  return run(command, e.timeoutSeconds, e.signal).then(result => ({ e, result, command: command.join(' ') }));
}), parallelRuns);

scripts.forEach((script, index) => {
  t.test(script, async t => {
    let outcome;
    try {
      outcome = await runs[index];
    } catch (error) {
      t.fail(String(error));
      return;
    }
    const { e, result, command } = outcome;
    if (result.timedOut) t.fail(`timed out after ${e.timeoutSeconds}s`, { command });
    t.equal(render(result.stdout), render(e.stdout), 'stdout', { command });
    t.equal(render(result.stderr), render(e.stderr), 'stderr', { command });
    t.equal(result.signal ? `killed by ${result.signal}` : result.exitCode, e.exitCode, 'exit status', { command });
  });
});
