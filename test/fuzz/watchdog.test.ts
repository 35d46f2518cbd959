// The fuzzers' failure paths, in a child process as a real run would meet them: an input
// that hangs (burning CPU, or blocked) is detected by the watchdog, which saves it and ends
// the run; an input that throws is saved and named in the failure.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const directory = mkdtempSync(join(tmpdir(), 'ktap-watchdog-'));
t.teardown(() => rmSync(directory, { recursive: true, force: true }));

function runFixture(mode: string): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import=tsx', join(__dirname, 'hang-fixture.ts'), mode], {
    encoding: 'utf8',
    env: { ...process.env, KTAP_FUZZ_CRASHES: directory },
    timeout: 120_000,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

for (const mode of ['spin', 'block']) {
  t.test(`an input that hangs (${mode}) fails the run and is saved`, async (t) => {
    const result = runFixture(mode);
    t.equal(result.signal, 'SIGKILL', 'the watchdog ends the run');
    t.notMatch(result.stdout, /all inputs ran/);
    const saved = join(directory, `fixture-${mode}-seed7-input3-hang`);
    t.match(result.stderr, `fixture-${mode}-seed7: hang: input 3 ran`, 'one line names the input');
    t.match(result.stderr, saved, 'and where it is saved');
    t.equal(readFileSync(saved, 'latin1'), 'input number 3', 'the input that hung');
  });
}

t.test('an input that throws fails the run and is saved', async (t) => {
  const result = runFixture('throw');
  t.equal(result.status, 1);
  const saved = join(directory, 'fixture-throw-seed7-input3.txt');
  t.match(result.stderr, `fixture-throw: internal error on seed 7 input 3, saved as ${saved}: TypeError`);
  t.equal(readFileSync(saved, 'latin1'), 'input number 3');
});

t.test('inputs that behave pass', async (t) => {
  const result = runFixture('none');
  t.equal(result.status, 0, result.stderr);
  t.match(result.stdout, /all inputs ran/);
});
