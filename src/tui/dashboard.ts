// The live dashboard (SPEC-product §4): a blessed screen framing the panes render.ts draws
// from what model.ts samples at each refresh. It owns the terminal while open and gives it
// back as it found it on every way out.

import { openSync, writeFileSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import type * as Blessed from 'blessed';
import { exitOnUncaught, UserError } from '../errors';
import type { Session } from '../session/session';
import { CHART_MIN_HEIGHT, CHART_MIN_ROWS, CHART_MIN_WIDTH, RatesChart } from './chart';
import { DashboardModel, type HostRow } from './model';
import {
  ASCII_GLYPHS, HELP_LINES, UNICODE_GLYPHS, cpuLines, fit, histogramLines, hostLines, rateLines, statusLine, type Glyphs,
} from './render';

export type QuitReason = 'quit' | 'interrupt' | 'hangup';

export interface DashboardOptions {
  /** Refresh interval in ms (--interval). */
  readonly intervalMs: number;
  /** q, Ctrl-C or a hangup: the face decides (end the session, or go back to the prompt). */
  readonly onQuit: (reason: QuitReason) => void;
  /** A fleet's hosts (--hosts): shown in place of the per-CPU pane. */
  readonly hosts?: () => readonly HostRow[];
}

/** Why the dashboard cannot open; the face reports it as one line. */
export class DashboardError extends UserError {
  constructor(message: string) {
    super(message, 'terminal');
  }
}

/** Refresh intervals `+` and `-` step through. */
const INTERVALS_MS = [100, 200, 250, 500, 1000, 2000, 5000, 10_000];
/** Lines the output log keeps (older ones are dropped). */
const LOG_LINES = 1000;
/** Characters of one log line kept. */
const LOG_LINE_CHARS = 512;
/** How long a note (saved screen, picked table) replaces the keys on the status line. */
const NOTE_MS = 3000;

/**
 * The dashboard needs a terminal on stdout; piped, ktap says so in one line and exits 1
 * (plain output and --json already serve pipes).
 */
export function assertTerminal(): void {
  if (process.stdout.isTTY !== true) throw new DashboardError('--tui needs a terminal, and stdout is not one (without --tui, or with --json, ktap writes to pipes)');
  // A dumb terminal cannot move its cursor: the panes would come out as one long smear.
  if (process.env.TERM === 'dumb') throw new DashboardError('--tui needs a terminal that can move its cursor, and TERM is dumb');
}

/** Opens the dashboard on a running session. Throws DashboardError when stdout is no terminal. */
export function openDashboard(session: Session, options: DashboardOptions): Dashboard {
  assertTerminal();
  return new Dashboard(session, options);
}

/** blessed is loaded only when a dashboard opens, from node_modules (it reads its own data files). */
function loadBlessed(): typeof Blessed {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('blessed') as typeof Blessed;
}

interface Panes {
  readonly histogram: Blessed.Widgets.BoxElement;
  readonly cpus: Blessed.Widgets.BoxElement;
  readonly rates: Blessed.Widgets.BoxElement;
  readonly log: Blessed.Widgets.BoxElement;
  readonly status: Blessed.Widgets.BoxElement;
  readonly help: Blessed.Widgets.BoxElement;
}

export class Dashboard {
  private readonly screen: Blessed.Widgets.Screen;
  private readonly panes!: Panes;
  private readonly model!: DashboardModel;
  private readonly glyphs: Glyphs;
  private readonly input: ReadStream;
  private readonly ownsInput: boolean;
  private intervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private paused = false;
  /** Probes when the layout was made (the rates pane has a row for each). */
  private layoutProbes = 0;
  /** Sparkline rows in the rates pane (the chart, when shown, is below them). */
  private sparklineRows = 0;
  private readonly chart: RatesChart;
  private note: { text: string; until: number } | null = null;
  private readonly logLines: string[] = [];
  private partialLine = '';
  /** What was written to stderr while open, and the runtime errors: repeated on the normal screen after. */
  private readonly stderrText: string[] = [];
  private readonly errors: string[] = [];
  private closed = false;
  private readonly restore: Array<() => void> = [];

  constructor(private readonly session: Session, private readonly options: DashboardOptions) {
    this.intervalMs = options.intervalMs;
    const blessed = loadBlessed();
    // Keys come from the terminal itself, so the dashboard never competes with a reader of
    // stdin (the REPL's line editor, paused meanwhile) and works when stdin is redirected.
    const terminal = openTerminalInput();
    this.input = terminal.stream;
    this.ownsInput = terminal.owned;
    this.screen = blessed.screen({
      input: this.input,
      output: process.stdout,
      smartCSR: true,
      fullUnicode: false,
      autoPadding: true,
      warnings: false,
      title: 'ktap',
    });
    const tput = (this.screen.program as unknown as { tput: unknown }).tput as { unicode: boolean; numbers: { U8?: number } };
    this.glyphs = tput.unicode || tput.numbers.U8 === 1 ? UNICODE_GLYPHS : ASCII_GLYPHS;
    this.chart = new RatesChart(this.screen);
    try {
      this.panes = this.createPanes(blessed);
      this.model = new DashboardModel(session, session.createdAt, performance.now(), options.hosts);
      this.capture();
      this.bindKeys();
      this.screen.on('resize', () => this.draw(true));
      this.draw(true);
    } catch (error) {
      // The screen is up already: give the terminal back before the error is reported.
      this.close();
      throw error;
    }
    this.schedule();
  }

  // ---- layout -----------------------------------------------------------------------

  private createPanes(blessed: typeof Blessed): Panes {
    const framed = (label: string): Blessed.Widgets.BoxElement => blessed.box({
      parent: this.screen, label: ` ${label} `, border: { type: 'line' }, tags: false, wrap: false,
      style: { border: { fg: 'cyan' }, label: { fg: 'white', bold: true } },
    });
    return {
      histogram: framed('Histogram'),
      cpus: framed(this.options.hosts === undefined ? 'Per CPU' : 'Per host'),
      rates: framed('Events/s, last minute'),
      log: framed('Output'),
      status: blessed.box({ parent: this.screen, height: 1, tags: false, wrap: false, style: { fg: 'black', bg: 'white' } }),
      help: blessed.box({
        parent: this.screen, label: ' Help ', border: { type: 'line' }, tags: false, hidden: true,
        top: 'center', left: 'center', width: 46, height: HELP_LINES.length + 2,
        content: HELP_LINES.join('\n'), style: { border: { fg: 'yellow' } },
      }),
    };
  }

  /** Places the panes for the current size: 80×24 and up, growing with the terminal. */
  private layout(): void {
    const width = Math.max(20, this.screen.width as number);
    const height = Math.max(10, this.screen.height as number);
    const rows = height - 1;
    const topHeight = Math.max(6, Math.round(rows * 0.5));
    // One row per probe, up to a quarter of the screen; the log gets the rest. A large
    // terminal also gets a line chart of the rates under the sparklines.
    this.layoutProbes = this.rateRows();
    const withChart = this.glyphs === UNICODE_GLYPHS && width >= CHART_MIN_WIDTH && height >= CHART_MIN_HEIGHT;
    const sparklineLimit = Math.max(1, Math.round(rows * 0.25) - 2);
    this.sparklineRows = Math.max(1, Math.min(this.layoutProbes, withChart ? 4 : sparklineLimit));
    const ratesHeight = withChart ? this.sparklineRows + 2 + Math.max(CHART_MIN_ROWS, Math.round(rows * 0.3) - this.sparklineRows)
      : Math.max(3, Math.min(this.layoutProbes + 2, Math.round(rows * 0.25)));
    const logHeight = Math.max(3, rows - topHeight - ratesHeight);
    // The per-host pane has a label and a state more than the per-CPU one.
    const cpuWidth = this.options.hosts === undefined ? Math.min(width - 10, Math.min(44, Math.max(34, Math.round(width * 0.3))))
      : Math.min(width - 10, Math.max(44, Math.round(width * 0.4)));
    const place = (box: Blessed.Widgets.BoxElement, top: number, left: number, boxWidth: number, boxHeight: number): void => {
      box.top = top;
      box.left = left;
      box.width = boxWidth;
      box.height = boxHeight;
    };
    place(this.panes.histogram, 0, 0, width - cpuWidth, topHeight);
    place(this.panes.cpus, 0, width - cpuWidth, cpuWidth, topHeight);
    place(this.panes.rates, topHeight, 0, width, ratesHeight);
    place(this.panes.log, topHeight + ratesHeight, 0, width, logHeight);
    place(this.panes.status, height - 1, 0, width, 1);
    this.chart.place(withChart ? { top: topHeight + 1 + this.sparklineRows, left: 1, width: width - 2, height: ratesHeight - 2 - this.sparklineRows } : null);
  }

  /** Rows of the rates pane: one per probe, or per host of a fleet. */
  private rateRows(): number {
    return this.options.hosts === undefined ? this.session.handlers.length : this.options.hosts().length;
  }

  /** Inner size of a framed pane. */
  private static inner(box: Blessed.Widgets.BoxElement): { width: number; height: number } {
    return { width: Math.max(0, (box.width as number) - 2), height: Math.max(0, (box.height as number) - 2) };
  }

  // ---- refresh ----------------------------------------------------------------------

  private schedule(): void {
    this.timer = setTimeout(() => this.refresh(), this.intervalMs);
    // The dashboard never keeps the process alive on its own.
    this.timer.unref();
  }

  private refresh(): void {
    this.timer = null;
    if (this.closed) return;
    this.model.sample(performance.now());
    this.draw(false);
    this.schedule();
  }

  /** Redraws; while paused only the status line moves (events are still counted). */
  private draw(relayout: boolean): void {
    if (this.closed) return;
    if (relayout || this.rateRows() !== this.layoutProbes) this.layout();
    const glyphs = this.glyphs;
    if (!this.paused || relayout) {
      const histogramBox = Dashboard.inner(this.panes.histogram);
      const histogram = this.model.histogram(histogramBox.height);
      const tables = this.model.tables;
      const index = tables.findIndex((info) => info.name === this.model.selectedName);
      setLabel(this.panes.histogram, histogram === null ? ' Histogram ' :
        ` ${histogram.name}${tables.length > 1 ? ` (${index + 1}/${tables.length}${this.model.pickedByUser ? '' : ', auto'})` : ''}${histogram.powerOfTwo ? ' log2' : histogram.bucketed ? ' linear' : ''} `);
      setContent(this.panes.histogram, histogramLines(histogram, histogramBox.width, histogramBox.height, glyphs).join('\n'));
      const cpuBox = Dashboard.inner(this.panes.cpus);
      const hosts = this.model.hosts;
      setContent(this.panes.cpus, (hosts === null ? cpuLines(this.model, cpuBox.width, cpuBox.height, glyphs) : hostLines(hosts, cpuBox.width, cpuBox.height, glyphs)).join('\n'));
      const ratesBox = Dashboard.inner(this.panes.rates);
      setContent(this.panes.rates, rateLines(this.model.probes, ratesBox.width, this.chart.shown ? this.sparklineRows : ratesBox.height, glyphs).join('\n'));
      this.chart.update(this.model.probes, performance.now());
      const logBox = Dashboard.inner(this.panes.log);
      const tail = this.logLines.slice(Math.max(0, this.logLines.length - logBox.height));
      setContent(this.panes.log, tail.map((line) => fit(line, logBox.width, glyphs).trimEnd()).join('\n'));
    }
    const note = this.note !== null && this.note.until > performance.now() ? this.note.text : null;
    setContent(this.panes.status, statusLine(this.model, { paused: this.paused, intervalMs: this.intervalMs, note }, this.screen.width as number, glyphs));
    this.screen.render();
  }

  private showNote(text: string): void {
    this.note = { text, until: performance.now() + NOTE_MS };
    this.draw(false);
  }

  // ---- keys -------------------------------------------------------------------------

  private bindKeys(): void {
    const screen = this.screen;
    const onKey = (keys: string[], action: (key: string) => void): void => {
      screen.key(keys, (ch: string | undefined, key: { full?: string }) => {
        if (this.closed) return;
        if (!this.panes.help.hidden) this.panes.help.hide();
        action(ch ?? key.full ?? '');
      });
    };
    onKey(['q', 'Q'], () => this.options.onQuit('quit'));
    onKey(['C-c'], () => this.options.onQuit('interrupt'));
    onKey(['p', 'P', 'space'], () => {
      this.paused = !this.paused;
      this.draw(false);
    });
    onKey(['tab'], () => this.pick('next'));
    onKey(['S-tab'], () => this.pick('previous'));
    onKey(['0'], () => this.pick(null));
    onKey(['1', '2', '3', '4', '5', '6', '7', '8', '9'], (key) => this.pick(Number(key) - 1));
    onKey(['r', 'R'], () => {
      this.model.resetRates();
      this.showNote('rates reset');
    });
    onKey(['+', '='], () => this.stepInterval(1));
    onKey(['-', '_'], () => this.stepInterval(-1));
    onKey(['?', 'h'], () => {
      this.panes.help.show();
      this.panes.help.setFront();
      this.screen.render();
    });
    // Any other key closes the help too.
    screen.on('keypress', () => {
      if (this.closed || this.panes.help.hidden) return;
      setImmediate(() => {
        if (this.closed || this.panes.help.hidden) return;
        this.panes.help.hide();
        this.screen.render();
      });
    });
    onKey(['s', 'S'], () => this.saveScreen());
    onKey(['escape'], () => this.screen.render());
  }

  private pick(index: number | 'next' | 'previous' | null): void {
    this.model.pickTable(index);
    const tables = this.model.tables;
    if (tables.length === 0) this.showNote('no tables in this session');
    else this.showNote(index === null ? 'table: automatic' : `table: ${this.model.selectedName}`);
  }

  private stepInterval(direction: 1 | -1): void {
    const current = INTERVALS_MS.findIndex((ms) => ms >= this.intervalMs);
    const index = current < 0 ? INTERVALS_MS.length - 1 : direction > 0 && INTERVALS_MS[current] !== this.intervalMs ? current : current + direction;
    this.intervalMs = INTERVALS_MS[Math.max(0, Math.min(INTERVALS_MS.length - 1, index))]!;
    if (this.timer !== null) clearTimeout(this.timer);
    this.schedule();
    this.showNote(`refresh every ${this.intervalMs} ms`);
  }

  /** `s`: the screen as plain text in ktap-dashboard-TIME.txt in the current directory. */
  private saveScreen(): void {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const file = `ktap-dashboard-${stamp}.txt`;
    try {
      writeFileSync(file, this.screenText());
      this.showNote(`saved ${file}`);
    } catch (error) {
      this.showNote(`cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }

  /** What the screen shows, as lines of text without attributes. */
  screenText(): string {
    const lines = (this.screen as unknown as { lines: Array<Array<[number, string]>> }).lines;
    return lines.map((line) => line.map((cell) => cell[1]).join('').trimEnd()).join('\n').replace(/\n+$/, '') + '\n';
  }

  // ---- output while open ------------------------------------------------------------

  /** Text for the output log (script output, messages of the face). A byte string. */
  log(text: string): void {
    const decoded = Buffer.from(text, 'latin1').toString('utf8');
    const parts = (this.partialLine + decoded).split('\n');
    this.partialLine = parts.pop()!.slice(0, LOG_LINE_CHARS);
    for (const part of parts) this.logLines.push(part.slice(0, LOG_LINE_CHARS));
    if (this.logLines.length > LOG_LINES) this.logLines.splice(0, this.logLines.length - LOG_LINES);
  }

  /**
   * Takes over what would write to the terminal while the screen is up: script output goes
   * to the log (and on to the -o file), so does the output of a `-- cmd` workload; stderr
   * and runtime errors to the log and, after close, to the normal screen. A hangup of the
   * terminal ends like q.
   */
  private capture(): void {
    const session = this.session;
    const writer = session.writer;
    const previousRedirect = writer.redirect;
    const outputFd = session.options.outputFd;
    writer.flush();
    writer.redirect = (text) => {
      this.log(text);
      if (outputFd !== 1) writeFileSync(outputFd, text, 'latin1');
    };
    this.restore.push(() => {
      writer.flush();
      writer.redirect = previousRedirect;
    });

    const previousOnWorkloadOutput = session.onWorkloadOutput;
    session.onWorkloadOutput = (text) => this.log(text);
    this.restore.push(() => (session.onWorkloadOutput = previousOnWorkloadOutput));

    const previousOnError = session.onRuntimeError;
    session.onRuntimeError = (message) => {
      this.errors.push(message);
      previousOnError?.(message);
    };
    this.restore.push(() => (session.onRuntimeError = previousOnError));

    const stderr = process.stderr;
    const originalWrite = stderr.write;
    stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      this.stderrText.push(text);
      this.log(Buffer.from(text, 'utf8').toString('latin1'));
      const callback = rest.find((argument) => typeof argument === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof stderr.write;
    this.restore.push(() => (stderr.write = originalWrite));

    const onHangup = (): void => this.options.onQuit('hangup');
    process.on('SIGHUP', onHangup);
    this.restore.push(() => process.off('SIGHUP', onHangup));
    // Last line of defence: whatever ends the process gives the terminal back first.
    const onExit = (): void => this.close();
    process.on('exit', onExit);
    this.restore.push(() => process.off('exit', onExit));
    const onFatal = (error: unknown): void => {
      this.close();
      exitOnUncaught(error);
    };
    process.on('uncaughtException', onFatal);
    this.restore.push(() => process.off('uncaughtException', onFatal));
  }

  /**
   * Gives the terminal back (normal screen, cursor, cooked mode), stops capturing, and
   * repeats on the normal screen what went to stderr and the runtime errors. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    try {
      this.screen.destroy();
    } catch {
      // the terminal may be gone (hangup): nothing to restore on it
    }
    if (this.ownsInput) this.input.destroy();
    while (this.restore.length > 0) this.restore.pop()!();
    for (const text of this.stderrText) process.stderr.write(text);
    if (this.errors.length > 0) {
      // The errors were in the log; on the normal screen they go where the script output goes.
      const target = this.session.options.outputFd === 1 ? (line: string) => this.session.writer.write(line) : (line: string) => process.stderr.write(line);
      for (const message of this.errors) target(`error: ${message}\n`);
      this.session.writer.flush();
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** Sets a pane's text only when it changed: blessed parses content again on every set. */
function setContent(box: Blessed.Widgets.BoxElement, text: string): void {
  const shown = box as unknown as { ktapContent?: string };
  if (shown.ktapContent === text) return;
  shown.ktapContent = text;
  box.setContent(text);
}

function setLabel(box: Blessed.Widgets.BoxElement, label: string): void {
  const labelled = box as unknown as { ktapLabel?: string };
  if (labelled.ktapLabel === label) return;
  labelled.ktapLabel = label;
  box.setLabel(label);
}

/** A stream of the controlling terminal's keys, or stdin when there is no /dev/tty. */
function openTerminalInput(): { stream: ReadStream; owned: boolean } {
  try {
    return { stream: new ReadStream(openSync('/dev/tty', 'r')), owned: true };
  } catch {
    if (process.stdin.isTTY === true) return { stream: process.stdin as ReadStream, owned: false };
    throw new DashboardError('--tui needs a terminal to read keys from, and there is none');
  }
}
