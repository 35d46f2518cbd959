// The test environment itself: every file .ci/packages promises is present. A missing
// package fails here, by name, instead of as a compile error deep inside another test.

import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const LIST = join(__dirname, '..', '.ci', 'packages');

const rows = readFileSync(LIST, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.startsWith('#'))
  .map((line) => line.trim().split(/\s+/) as [string, string]);

t.ok(rows.length > 0, '.ci/packages lists packages');
for (const [pkg, file] of rows) {
  t.ok(existsSync(file), `${file} is present (Debian package ${pkg}; bash .ci/run installs it)`);
}
