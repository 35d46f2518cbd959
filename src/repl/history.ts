// The REPL's history file (~/.ktap_history): private to the user (mode 0600), newest
// first in memory as node:readline wants it, deduplicated and bounded.

import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const HISTORY_LIMIT = 1000;

export function historyPath(): string {
  return join(process.env.HOME ?? homedir(), '.ktap_history');
}

/** Entries newest first, one line as typed per entry (node:readline keeps lines, not inputs). */
export function loadHistory(path = historyPath()): string[] {
  try {
    const lines = readFileSync(path, 'utf8').split('\n').filter((line) => line.length > 0);
    return dedupe(lines.reverse());
  } catch {
    return [];
  }
}

/** Writes the entries (newest first) oldest first, one per line, readable only by the user. */
export function saveHistory(entries: readonly string[], path = historyPath()): void {
  try {
    const lines = dedupe(entries).slice(0, HISTORY_LIMIT).reverse();
    writeFileSync(path, lines.map((line) => line + '\n').join(''), { mode: 0o600 });
    chmodSync(path, 0o600);
  } catch {
    // A history that cannot be saved (read-only home) must not stop the session.
  }
}

/** Keeps the first (newest) occurrence of each entry. */
function dedupe(entries: readonly string[]): string[] {
  const seen = new Set<string>();
  return entries.filter((entry) => !seen.has(entry) && seen.add(entry) !== undefined);
}
