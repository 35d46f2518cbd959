// Files a run names (docs/files.md): output that cannot be written is one error line and
// exit 1; -o never names the script; a script is a regular file within the size limit.

import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, linkSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, ftruncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ktap, root, tracingUnavailable } from './support/tracing';

const directory = mkdtempSync(join(tmpdir(), 'ktap-files-'));
t.teardown(() => rmSync(directory, { recursive: true, force: true }));

interface Result {
  stdout: string;
  stderr: string;
  code: number | null;
  pid: number;
}

function run(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ktap, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('latin1')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('latin1')));
    // A run that never ends fails the test instead of hanging it.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, pid: child.pid! });
    });
  });
}

/** The whole stderr is one `error:` line, and nothing looks like a stack trace. */
function oneErrorLine(t: Test, result: Result, pattern: RegExp): void {
  t.match(result.stderr, pattern);
  t.equal(result.stderr.split('\n').length, 2, `one line: ${JSON.stringify(result.stderr)}`);
  t.notMatch(result.stderr, /internal error|\n\s+at /);
  t.equal(result.code, 1);
}

const tracing = tracingUnavailable() ?? false;

t.test('output that cannot be written: one line, exit 1', async (t) => {
  const [full, refusing, json] = await Promise.all([
    run(['-o', '/dev/full', '-e', 'print("hello")']),
    run(['-o', '/proc/version', '-e', 'print("hello")']),
    run(['--json', '-o', '/dev/full', '-e', 'for (i = 1, 100000) { print(i) }']),
  ]);
  oneErrorLine(t, full, /^error: cannot write to \/dev\/full: No space left on device\n$/);
  oneErrorLine(t, refusing, /^error: cannot write to \/proc\/version: /);
  oneErrorLine(t, json, /^error: cannot write to \/dev\/full: No space left on device\n$/);
});

t.test('output that fails while tracing ends the session: one line, exit 1, nothing left', { skip: tracing }, async (t) => {
  const result = await run(['-o', '/dev/full', '-e', 'trace syscalls:sys_enter_getppid { } tick-20ms { print("tick") }']);
  oneErrorLine(t, result, /^error: cannot write to \/dev\/full: No space left on device\n$/);
  const instances = '/sys/kernel/tracing/instances';
  t.same(existsSync(instances) ? readdirSync(instances).filter((name) => name.startsWith(`ktap-${result.pid}-`)) : [], []);
});

t.test('-o naming the script (by device and inode) is refused before anything is written', async (t) => {
  const script = join(directory, 'script.kp');
  const source = 'print("from the script")\n';
  writeFileSync(script, source);
  const alias = join(directory, 'alias.kp');
  linkSync(script, alias);
  for (const output of [script, alias, `${directory}/./script.kp`]) {
    const result = await run(['-o', output, script]);
    oneErrorLine(t, result, /^error: -o .* is the script .*script\.kp: refusing to overwrite it\n$/);
    t.equal(readFileSync(script, 'utf8'), source, 'the script is intact');
  }
  const saved = await run(['--save-bytecode', alias, script]);
  oneErrorLine(t, saved, /^error: --save-bytecode .*alias\.kp is the script/);
  t.equal(readFileSync(script, 'utf8'), source);
  const other = join(directory, 'out.txt');
  const fine = await run(['-o', other, script]);
  t.equal(fine.code, 0);
  t.equal(readFileSync(other, 'utf8'), 'from the script\n');
});

t.test('a script must be a regular file within the size limit', async (t) => {
  const huge = join(directory, 'huge.kp');
  const fd = openSync(huge, 'w');
  ftruncateSync(fd, 16 * 1024 * 1024 + 1);
  closeSync(fd);
  const fifo = join(directory, 'fifo.kp');
  spawnSync('mkfifo', [fifo]);
  const [zero, large, pipe, directoryScript] = await Promise.all([
    run(['/dev/zero']),
    run([huge]),
    run([fifo]),
    run(['-b', directory]),
  ]);
  oneErrorLine(t, zero, /^error: cannot read \/dev\/zero: not a regular file/);
  oneErrorLine(t, large, /^error: cannot read .*huge\.kp: larger than 16 MiB, the limit for a script\n$/);
  oneErrorLine(t, pipe, /^error: cannot read .*fifo\.kp: not a regular file/);
  oneErrorLine(t, directoryScript, /^error: cannot read .*: it is a directory\n$/);
});
