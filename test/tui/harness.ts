// Shared by the dashboard tests: whether they can run here, and the rows of a framed pane on
// a screen read back from tmux (test/support/tmux.ts).

import { tracingUnavailable } from '../support/tracing';
import { tmuxUnavailable } from '../support/tmux';

/** Why the dashboard scenarios cannot run here, or undefined when they can. */
export function dashboardUnavailable(): string | undefined {
  return tracingUnavailable() ?? tmuxUnavailable();
}

/**
 * Rows of a framed pane on the screen: the text between its side borders, below the top
 * border that carries `label`. Borders are box-drawing characters, or the VT100 line-drawing
 * set (l q k x m j) when the terminal has no UTF-8.
 */
export function paneRows(screen: string, label: string): string[] {
  const lines = screen.split('\n');
  const top = lines.findIndex((line) => line.includes(label));
  if (top < 0) return [];
  const topLine = lines[top]!;
  const labelAt = topLine.indexOf(label);
  const left = Math.max(topLine.lastIndexOf('┌', labelAt), topLine.lastIndexOf('l', labelAt));
  const rightCorner = /[┐k]/g;
  rightCorner.lastIndex = labelAt + label.length;
  const right = rightCorner.exec(topLine)?.index ?? topLine.length;
  const rows: string[] = [];
  for (let index = top + 1; index < lines.length; index++) {
    const line = lines[index]!;
    if (line[left] !== '│' && line[left] !== 'x') break;
    rows.push(line.slice(left + 1, right).trimEnd());
  }
  return rows;
}
