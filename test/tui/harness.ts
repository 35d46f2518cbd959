// Shared by the dashboard tests: the real `ktap --tui` in a tmux pane of a chosen size, its
// screen and terminal state read back from tmux, and polling helpers.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const root = join(__dirname, '..', '..');
export const ktap = join(root, 'bin', 'ktap');
export const tracefs = '/sys/kernel/tracing';

/** Why the dashboard scenarios cannot run here, or undefined when they can. */
export function dashboardUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  if (spawnSync('tmux', ['-V']).status !== 0) return 'tmux is not installed';
  const probe = spawnSync(process.execPath, [ktap, '-le', 'syscalls:sys_enter_getppid'], { encoding: 'utf8' });
  if (probe.status !== 0) return probe.stderr.trim() || 'ktap -le failed';
  if (!probe.stdout.includes('syscalls:sys_enter_getppid')) return 'no syscalls:sys_enter_getppid tracepoint';
  return undefined;
}

/** Instances a ktap process with this pid left in tracefs. */
export function leftovers(pid: number | undefined): string[] {
  const directory = join(tracefs, 'instances');
  return existsSync(directory) ? readdirSync(directory).filter((name) => name.startsWith(`ktap-${pid}-`)) : [];
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns something other than undefined/false; throws after `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = check();
    if (result !== undefined && result !== false) return result;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** One tmux server per test file, on its own socket, so nothing touches the user's tmux. */
const socket = `ktap-tui-test-${process.pid}`;
let paneCount = 0;

export function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
}

/** Stops this file's tmux server (teardown). */
export function stopTmuxServer(): void {
  spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
}

export interface PaneOptions {
  readonly width?: number;
  readonly height?: number;
  /** The shell's directory (where `s` writes). */
  readonly cwd?: string;
  /** Extra environment words (`NAME=value`) for the command. */
  readonly env?: readonly string[];
  /** Where the shell records `stty -g` before and after the command (raw mode restored?). */
  readonly sttyFile?: string;
}

/**
 * A command in a tmux pane, run by a shell that writes its exit status below it; the pane
 * stays after the command ends so the last screen can be read.
 */
export class Pane {
  private constructor(readonly name: string, readonly shellPid: number) {}

  /** Runs `words` (a command line, quoted here) in a new pane. */
  static open(words: readonly string[], options: PaneOptions = {}): Pane {
    const name = `tui-${++paneCount}`;
    const command = ['env', '-u', 'NODE_OPTIONS', 'LANG=C.UTF-8', ...(options.env ?? []), ...words].map(shellQuote).join(' ');
    const stty = options.sttyFile;
    const script = [
      options.cwd === undefined ? '' : `cd ${shellQuote(options.cwd)}; `,
      stty === undefined ? '' : `stty -g > ${shellQuote(stty + '.before')}; `,
      `${command}; echo "[exited $?]"`,
      stty === undefined ? '' : `; stty -g > ${shellQuote(stty + '.after')}`,
      // The shell stays, so tmux reports the terminal as the command left it (a dead pane has no cursor).
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

  /** Waits until the screen matches; returns the screen. Fails with the screen shown. */
  async expect(pattern: RegExp | string | ((screen: string) => boolean), what = String(pattern), timeoutMs = 15_000): Promise<string> {
    const matches = (screen: string): boolean =>
      typeof pattern === 'string' ? screen.includes(pattern) : pattern instanceof RegExp ? pattern.test(screen) : pattern(screen);
    try {
      return await waitFor(() => {
        const screen = this.screen();
        return matches(screen) ? screen : undefined;
      }, what, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}; the screen:\n${this.screen()}`);
    }
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
    try {
      return await waitFor(() => this.exitStatus(), 'the command to exit', timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}; the screen:\n${this.screen()}`);
    }
  }

  /** Ends the command if it still runs (by its pid) and removes the pane. */
  close(): void {
    try {
      const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(this.shellPid)], { encoding: 'utf8' }).stdout.trim();
      for (const pid of children.split('\n').filter((line) => line !== '')) process.kill(Number(pid), 'SIGTERM');
    } catch {
      // already gone
    }
    spawnSync('tmux', ['-L', socket, 'kill-session', '-t', this.name], { stdio: 'ignore' });
  }
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
