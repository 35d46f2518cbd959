// The history file is used only when it is the user's own regular file: a symlink, another
// user's file or another user's directory are left untouched; writes are atomic, mode 0600.

import t from 'tap';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { historyProblem, loadHistory, saveHistory } from '../../src/repl/history';

const directory = mkdtempSync(join(tmpdir(), 'ktap-history-'));
t.teardown(() => rmSync(directory, { recursive: true, force: true }));
let homes = 0;
const home = (): string => {
  const path = join(directory, `home-${++homes}`);
  mkdirSync(path);
  return path;
};
const asRoot = process.getuid?.() === 0 ? false : 'changing owners needs root';

t.test('a symlink: neither read nor written; its target keeps content and mode', async (t) => {
  const dir = home();
  const target = join(dir, 'precious');
  writeFileSync(target, 'not a history\n');
  chmodSync(target, 0o644);
  const path = join(dir, '.ktap_history');
  symlinkSync(target, path);
  t.match(historyProblem(path), /is a symbolic link$/);
  t.same(loadHistory(path), []);
  saveHistory(['print(1)'], path);
  t.equal(readFileSync(target, 'utf8'), 'not a history\n', 'content untouched');
  t.equal(statSync(target).mode & 0o777, 0o644, 'mode untouched');
  t.ok(lstatSync(path).isSymbolicLink(), 'the link itself stays');
});

t.test('another user\'s file or directory is left alone', { skip: asRoot }, async (t) => {
  const dir = home();
  const path = join(dir, '.ktap_history');
  writeFileSync(path, 'theirs\n');
  chmodSync(path, 0o644);
  chownSync(path, 65534, 65534);
  t.match(historyProblem(path), /belongs to another user \(uid 65534\)$/);
  t.same(loadHistory(path), []);
  saveHistory(['mine'], path);
  t.equal(readFileSync(path, 'utf8'), 'theirs\n');
  t.equal(statSync(path).uid, 65534);
  t.equal(statSync(path).mode & 0o777, 0o644);

  const theirHome = home();
  chownSync(theirHome, 65534, 65534);
  saveHistory(['mine'], join(theirHome, '.ktap_history'));
  t.same(readdirSync(theirHome), [], 'nothing created in another user\'s HOME');
});

t.test('the user\'s own file: rewritten atomically with mode 0600, read back newest first', async (t) => {
  const dir = home();
  const path = join(dir, '.ktap_history');
  writeFileSync(path, 'old\n');
  chmodSync(path, 0o644);
  const before = statSync(path).ino;
  saveHistory(['third', 'second', 'first', 'third'], path);
  t.equal(readFileSync(path, 'utf8'), 'first\nsecond\nthird\n', 'oldest first, deduplicated');
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.not(statSync(path).ino, before, 'a new file renamed into place');
  t.same(readdirSync(dir), ['.ktap_history'], 'no temporary file left');
  t.same(loadHistory(path), ['third', 'second', 'first']);
});
