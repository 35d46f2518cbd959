// Terminals for the tests: a command in a tmux pane of a chosen size, run by a shell that
// writes the command's exit status below it; the screen, the cursor and the terminal's state
// read back from tmux. One tmux server per test process, on its own socket, so nothing
// touches the user's tmux.

import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './wait';

/** Why no tmux pane can be opened here, or undefined when one can. */
export function tmuxUnavailable(): string | undefined {
  return spawnSync('tmux', ['-V']).status === 0 ? undefined : 'tmux is not installed (.ci/packages lists it)';
}

/** `word` as one word of a shell command line. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const socket = `ktap-test-${process.pid}`;
let paneCount = 0;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
}

/** Stops this process's tmux server and removes its socket (teardown). */
export function stopTmuxServer(): void {
  spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
  rmSync(join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid?.()}`, socket), { force: true });
}

/** The panes still open on this process's server. */
export function tmuxSessions(): string[] {
  const result = spawnSync('tmux', ['-L', socket, 'list-sessions', '-F', '#{session_name}'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.split('\n').filter((line) => line !== '') : [];
}

export interface PaneOptions {
  readonly width?: number;
  readonly height?: number;
  /** The shell's directory (where the dashboard's `s` writes). */
  readonly cwd?: string;
  /** Extra environment words (`NAME=value`) for the command. */
  readonly env?: readonly string[];
  /** Where the shell records `stty -g` before and after the command (raw mode restored?). */
  readonly sttyFile?: string;
}

/**
 * A command in a tmux pane. The shell stays after the command ends, so the last screen can be
 * read and tmux reports the terminal as the command left it (a dead pane has no cursor); tmux's
 * own pane_dead_status proved unreliable, hence the `[exited N]` line.
 */
export class Pane {
  private constructor(readonly name: string, readonly shellPid: number) {}

  /** Runs `words` (a command line, quoted here) in a new pane. */
  static open(words: readonly string[], options: PaneOptions = {}): Pane {
    // Between panes none may exist; the server stays up instead of racing a new pane.
    if (paneCount === 0) tmux('start-server', ';', 'set-option', '-s', 'exit-empty', 'off');
    const name = `pane-${++paneCount}`;
    const command = ['env', '-u', 'NODE_OPTIONS', 'LANG=C.UTF-8', ...(options.env ?? []), ...words].map(shellQuote).join(' ');
    const stty = options.sttyFile;
    const script = [
      options.cwd === undefined ? '' : `cd ${shellQuote(options.cwd)}; `,
      stty === undefined ? '' : `stty -g > ${shellQuote(stty + '.before')}; `,
      `${command}; echo "[exited $?]"`,
      stty === undefined ? '' : `; stty -g > ${shellQuote(stty + '.after')}`,
      '; exec sleep 3600',
    ].join('');
    tmux('new-session', '-d', '-s', name, '-x', String(options.width ?? 80), '-y', String(options.height ?? 24), script,
      ';', 'set-option', '-t', name, 'remain-on-exit', 'on');
    if (process.env.KTAP_TUI_RAW) tmux('pipe-pane', '-t', name, '-o', `cat >> ${process.env.KTAP_TUI_RAW}-${name}.log`);
    return new Pane(name, Number(tmux('display-message', '-p', '-t', name, '#{pane_pid}').trim()));
  }

  /** The pid of the command the shell runs: its child whose command line includes `marker`. */
  async childPid(marker = 'bin/ktap'): Promise<number> {
    return waitFor(() => {
      const children = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(this.shellPid)], { encoding: 'utf8' }).stdout;
      const line = children.split('\n').find((candidate) => candidate.includes(marker));
      return line === undefined ? undefined : Number(line.trim().split(/\s+/)[0]);
    }, 'the command to start');
  }

  /** Sends key names: q, Tab, C-c, Enter, … */
  keys(...keys: string[]): void {
    tmux('send-keys', '-t', this.name, ...keys);
  }

  /** Types text literally (no Enter). */
  type(text: string): void {
    tmux('send-keys', '-t', this.name, '-l', text);
  }

  /** Types a line and presses Enter. */
  line(text: string): void {
    this.type(text);
    this.keys('Enter');
  }

  /** What the pane shows now (the visible screen only), trailing blank lines removed. */
  screen(): string {
    return tmux('capture-pane', '-p', '-t', this.name).replace(/\s+$/, '');
  }

  /** The normal screen with its scrollback, lines joined where they wrapped. */
  history(): string {
    return tmux('capture-pane', '-p', '-J', '-S', '-', '-t', this.name).replace(/\s+$/, '');
  }

  /** The line the cursor is on. */
  cursorLine(): string {
    const y = Number(tmux('display-message', '-p', '-t', this.name, '#{cursor_y}').trim());
    return tmux('capture-pane', '-p', '-t', this.name).split('\n')[y] ?? '';
  }

  /** Waits until the screen matches; returns the screen. Fails with the screen shown. */
  async expect(pattern: RegExp | string | ((screen: string) => boolean), what = String(pattern), timeoutMs = 15_000): Promise<string> {
    const matches = (screen: string): boolean =>
      typeof pattern === 'string' ? screen.includes(pattern) : pattern instanceof RegExp ? pattern.test(screen) : pattern(screen);
    return this.showingScreen(() => waitFor(() => {
      const screen = this.screen();
      return matches(screen) ? screen : undefined;
    }, what, timeoutMs));
  }

  /** tmux's view of the terminal: alternate screen on, cursor visible, size. */
  state(): { alternate: boolean; cursorVisible: boolean; width: number; height: number } {
    const [alternate, cursor, width, height] = tmux('display-message', '-p', '-t', this.name,
      '#{alternate_on} #{cursor_flag} #{pane_width} #{pane_height}').trim().split(' ');
    return { alternate: alternate === '1', cursorVisible: cursor === '1', width: Number(width), height: Number(height) };
  }

  resize(width: number, height: number): void {
    tmux('resize-window', '-t', this.name, '-x', String(width), '-y', String(height));
  }

  exitStatus(): number | undefined {
    const status = /^\[exited (\d+)\]$/m.exec(this.history());
    return status === null ? undefined : Number(status[1]);
  }

  async exited(timeoutMs = 20_000): Promise<number> {
    return this.showingScreen(() => waitFor(() => this.exitStatus(), 'the command to exit', timeoutMs));
  }

  /** Runs `wait`; when it fails, its error carries the screen as it was then. */
  async showingScreen<T>(wait: () => Promise<T>): Promise<T> {
    try {
      return await wait();
    } catch (error) {
      throw new Error(`${(error as Error).message}; the screen:\n${this.history()}`);
    }
  }

  /** Removes the pane: the terminal hangs up, and the command gets SIGHUP if it still runs. */
  hangUp(): void {
    spawnSync('tmux', ['-L', socket, 'kill-session', '-t', this.name], { stdio: 'ignore' });
  }

  /** Ends the command if it still runs (SIGTERM to the shell's children) and removes the pane. */
  close(): void {
    try {
      const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(this.shellPid)], { encoding: 'utf8' }).stdout.trim();
      for (const pid of children.split('\n').filter((line) => line !== '')) process.kill(Number(pid), 'SIGTERM');
    } catch {
      // already gone
    }
    this.hangUp();
  }
}
