// The error funnel: failures of every layer reach the user as one line naming what is wrong
// (a UserError with its exit status); anything else is reported as a bug.

import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bugReport, UserError } from '../src/errors';
import { readEventLayout } from '../src/probes/tracer';
import { ktap, root, tracingUnavailable } from './support/tracing';

function ktapRun(args: string[]): { stderr: string; status: number | null } {
  const result = spawnSync(process.execPath, [ktap, ...args], { cwd: root, encoding: 'latin1', timeout: 60_000 });
  return { stderr: result.stderr, status: result.status };
}

/** The error FN throws, which must be a UserError of one line. */
function userError(t: Test, fn: () => unknown): UserError | undefined {
  try {
    fn();
  } catch (error) {
    t.ok(error instanceof UserError, `a UserError: ${String(error)}`);
    if (!(error instanceof UserError)) return undefined;
    t.notMatch(error.report(), /\n/, 'one line');
    return error;
  }
  t.fail('no error');
  return undefined;
}

t.test('format files: unreadable, garbled and vanished events are one line each', async (t) => {
  const tracefs = mkdtempSync(join(tmpdir(), 'ktap-errors-'));
  t.teardown(() => rmSync(tracefs, { recursive: true, force: true }));
  mkdirSync(join(tracefs, 'events', 'odd', 'unreadable', 'format'), { recursive: true });
  mkdirSync(join(tracefs, 'events', 'odd', 'garbled'), { recursive: true });
  writeFileSync(join(tracefs, 'events', 'odd', 'garbled', 'format'), 'name: garbled\nID: x\nformat:\n\tnonsense\n');
  t.match(userError(t, () => readEventLayout(tracefs, { system: 'odd', event: 'unreadable' }))?.report(),
    /^error: cannot read the format of odd:unreadable: /);
  t.match(userError(t, () => readEventLayout(tracefs, { system: 'odd', event: 'garbled' }))?.report(),
    /^error: bad format of odd:garbled: /);
  t.equal(userError(t, () => readEventLayout(tracefs, { system: 'odd', event: 'vanished' }))?.report(),
    'error: cannot read the format of odd:vanished: no such file or directory');
});

t.test('ELF errors: one line, exit status 1', async (t) => {
  const listed = ktapRun(['-lf', '/etc/hostname']);
  t.equal(listed.stderr, "error: not an ELF file: '/etc/hostname'\n");
  t.equal(listed.status, 1);
});

t.test('an ELF error while attaching: one line, exit status 1', { skip: tracingUnavailable() }, async (t) => {
  const traced = ktapRun(['-e', 'trace probe:/etc/hostname:main { }']);
  t.equal(traced.stderr, "error: not an ELF file: '/etc/hostname'\n");
  t.equal(traced.status, 1);
});

t.test('anything else is a bug, and says so', async (t) => {
  const report = bugReport(new TypeError('x is undefined'));
  t.match(report, /^ktap: internal error \(a bug in ktap: please report it/);
  t.match(report, /TypeError: x is undefined/);
});
