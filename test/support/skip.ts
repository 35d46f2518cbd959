// A test file that cannot run here says why on a line of its own and is counted by tap as a
// skip, never as a pass, so CI's closing line tells skipped tests apart.

import t from 'tap';

/** Skips the rest of the file: `what` could not run because of `reason`. */
export function skipFile(what: string, reason: string): void {
  t.comment(`SKIP ${what}: ${reason}`);
  t.skip(`${what} (${reason})`, () => {});
}
