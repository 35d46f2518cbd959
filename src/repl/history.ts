// The REPL's history file (~/.ktap_history): used only when it is the user's own regular file
// (never through a symlink), rewritten atomically (temp file + rename) with mode 0600.

import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const HISTORY_LIMIT = 1000;
/** A history file larger than this is not read (1000 entries of normal inputs are far less). */
const HISTORY_MAX_BYTES = 4 * 1024 * 1024;

export function historyPath(): string {
  return join(process.env.HOME ?? homedir(), '.ktap_history');
}

/**
 * Why the history file must not be used, or null when it may: it (when present) and its
 * directory must belong to this user, and it must be a regular file, not a symlink. So root
 * running the REPL with another user's HOME neither reads nor rewrites that user's files.
 */
export function historyProblem(path = historyPath()): string | null {
  const uid = process.getuid?.();
  const owner = (stats: Stats, what: string): string | null =>
    uid === undefined || stats.uid === uid ? null : `${what} belongs to another user (uid ${stats.uid})`;
  try {
    const problem = owner(lstatSync(dirname(path)), dirname(path));
    if (problem !== null) return problem;
  } catch {
    return `${dirname(path)} is missing`;
  }
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch {
    return null;
  }
  if (stats.isSymbolicLink()) return `${path} is a symbolic link`;
  if (!stats.isFile()) return `${path} is not a regular file`;
  return owner(stats, path);
}

/** Entries newest first, one line as typed per entry (node:readline keeps lines, not inputs). */
export function loadHistory(path = historyPath()): string[] {
  if (historyProblem(path) !== null) return [];
  let fd: number;
  try {
    // O_NOFOLLOW: a symlink put there since the check is not followed.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return [];
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile() || stats.size > HISTORY_MAX_BYTES || (process.getuid !== undefined && stats.uid !== process.getuid())) return [];
    const buffer = Buffer.alloc(stats.size);
    let length = 0;
    while (length < buffer.length) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
    }
    const lines = buffer.toString('utf8', 0, length).split('\n').filter((line) => line.length > 0);
    return dedupe(lines.reverse());
  } catch {
    return [];
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes the entries (newest first) oldest first, one per line, to a new file of mode 0600
 * in the same directory, renamed over the history file: a crash leaves the old file or the
 * new one, and a symlink put in its place is replaced, never followed.
 */
export function saveHistory(entries: readonly string[], path = historyPath()): void {
  if (historyProblem(path) !== null) return;
  const lines = dedupe(entries).slice(0, HISTORY_LIMIT).reverse();
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    // 'wx' (O_EXCL) creates a new file and never follows a symlink at that name.
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      writeSync(fd, lines.map((line) => line + '\n').join(''));
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch {
    // A history that cannot be saved (read-only home, full disk) must not stop the session.
    try {
      unlinkSync(temporary);
    } catch {
      // It was not created.
    }
  }
}

/** Keeps the first (newest) occurrence of each entry. */
function dedupe(entries: readonly string[]): string[] {
  const seen = new Set<string>();
  return entries.filter((entry) => !seen.has(entry) && seen.add(entry) !== undefined);
}
