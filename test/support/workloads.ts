// Programs the real-kernel tests run: C sources compiled into a scratch directory of the
// test's own (removed when the test ends), so that a workload's comm is a name the test chose
// and nothing of it outlives the test.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from './tracing';

/** The tests' common workload: getppid loops, reads, writes, forks (see its header). */
export const WORKLOAD_C = join(root, 'test', 'session', 'workload.c');

/** A fresh directory `ktap-PREFIX-…` under the system's temporary directory, removed at T's teardown. */
export function scratchDirectory(t: { teardown(fn: () => void): void }, prefix: string): string {
  const directory = mkdtempSync(join(tmpdir(), `ktap-${prefix}-`));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

/** SOURCE compiled with `cc -O1 FLAGS` into DIRECTORY/NAME; returns the program's path. */
export function compile(directory: string, source: string, name: string, flags: readonly string[] = []): string {
  const program = join(directory, name);
  execFileSync('cc', ['-O1', ...flags, '-o', program, source]);
  return program;
}
