// The dashboard's panes as plain text lines of a given size, from a DashboardModel: the
// blessed screen only frames them, so layout is the same on every terminal and testable.

import type { DashboardModel, Histogram, HostRow, ProbeRates } from './model';

/** Characters for bars and sparklines: Unicode blocks, or ASCII where the terminal has no UTF-8. */
export interface Glyphs {
  readonly bar: string;
  readonly levels: string;
  readonly ellipsis: string;
}

export const UNICODE_GLYPHS: Glyphs = { bar: '█', levels: ' ▁▂▃▄▅▆▇█', ellipsis: '…' };
export const ASCII_GLYPHS: Glyphs = { bar: '#', levels: ' .:-=+*#@', ellipsis: '~' };

/** 1234 → "1234", 12345 → "12.3k", 1.5e6 → "1.50M". */
export function formatCount(value: number): string {
  const sign = value < 0 ? '-' : '';
  const magnitude = Math.abs(value);
  if (magnitude < 10_000) return sign + (Number.isInteger(magnitude) ? String(magnitude) : magnitude < 10 ? magnitude.toFixed(1) : String(Math.round(magnitude)));
  const units: Array<[number, string]> = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [size, unit] of units) {
    if (magnitude >= size) {
      const scaled = magnitude / size;
      return sign + (scaled >= 100 ? scaled.toFixed(0) : scaled >= 10 ? scaled.toFixed(1) : scaled.toFixed(2)) + unit;
    }
  }
  return sign + String(magnitude);
}

/** Events per second: one decimal below 10 (a tick-10s runs 0.1/s), whole numbers above. */
export function formatRate(perSecond: number): string {
  return perSecond < 9.95 ? (Math.round(perSecond * 10) / 10).toString() : formatCount(Math.round(perSecond));
}

export function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)}G` : `${Math.round(mib)}M`;
}

/** Elapsed time as M:SS, or H:MM:SS from an hour on. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const seconds = String(total % 60).padStart(2, '0');
  const minutes = Math.floor(total / 60) % 60;
  const hours = Math.floor(total / 3600);
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

export function formatInterval(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Cuts `text` to `width` columns (the glyph's ellipsis marks a cut) or pads it. */
export function fit(text: string, width: number, glyphs: Glyphs, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  const clean = text.replace(/[\x00-\x1f\x7f]/g, ' ');
  if (clean.length > width) return width === 1 ? glyphs.ellipsis : clean.slice(0, width - 1) + glyphs.ellipsis;
  return align === 'left' ? clean.padEnd(width) : clean.padStart(width);
}

/** The histogram pane's rows: `key │███████ count`, bars scaled to the largest count shown. */
export function histogramLines(histogram: Histogram | null, width: number, height: number, glyphs: Glyphs): string[] {
  if (height <= 0) return [];
  if (histogram === null) {
    return ['No table yet.', 'Top-level tables of the', 'script show here.'].map((line) => fit(line, width, glyphs)).slice(0, height);
  }
  const lines: string[] = [];
  if (histogram.rows.length === 0) lines.push(fit(histogram.skipped > 0 ? 'No numbers in this table.' : '(empty)', width, glyphs));
  const counts = histogram.rows.map((row) => formatCount(row.count));
  const countWidth = Math.max(1, ...counts.map((text) => text.length));
  const labelLimit = Math.max(4, Math.floor(width * 0.4));
  const labelWidth = Math.min(labelLimit, Math.max(1, ...histogram.rows.map((row) => row.label.length)));
  const barWidth = Math.max(1, width - labelWidth - countWidth - 3);
  const max = Math.max(0, ...histogram.rows.map((row) => row.count));
  histogram.rows.forEach((row, index) => {
    const length = max <= 0 || row.count <= 0 ? 0 : Math.max(1, Math.round((row.count / max) * barWidth));
    const label = fit(row.label, labelWidth, glyphs);
    lines.push(fit(`${label} |${glyphs.bar.repeat(length).padEnd(barWidth)} ${counts[index]!.padStart(countWidth)}`, width, glyphs));
  });
  if (histogram.more > 0) lines.push(fit(`${glyphs.ellipsis} ${histogram.more} more key${histogram.more === 1 ? '' : 's'}`, width, glyphs));
  return lines.slice(0, height);
}

/** The per-CPU table: events/s, total events, lost events, share of handler time. */
export function cpuLines(model: DashboardModel, width: number, height: number, glyphs: Glyphs): string[] {
  if (height <= 0) return [];
  const row = (cpu: string, rate: string, total: string, lost: string, share: string): string =>
    fit(`${cpu.padEnd(4)}${rate.padStart(8)}${total.padStart(8)}${lost.padStart(6)}${share.padStart(6)}`, width, glyphs);
  const lines = [row('CPU', 'ev/s', 'total', 'lost', 'time')];
  if (model.cpus.length === 0) {
    lines.push(fit('no kernel events', width, glyphs));
    return lines.slice(0, height);
  }
  const room = height - 1;
  // When they do not all fit, the busiest CPUs are shown and the others summed up.
  const shown = model.cpus.length <= room ? model.cpus
    : [...model.cpus].sort((a, b) => b.eventsPerSecond - a.eventsPerSecond).slice(0, Math.max(0, room - 1));
  for (const cpu of shown) {
    lines.push(row(String(cpu.cpu), formatCount(Math.round(cpu.eventsPerSecond)), formatCount(cpu.total), formatCount(cpu.lost),
      `${Math.round(cpu.handlerShare * 100)}%`));
  }
  if (shown.length < model.cpus.length) {
    const rest = model.cpus.filter((cpu) => !shown.includes(cpu));
    const restRate = rest.reduce((sum, cpu) => sum + cpu.eventsPerSecond, 0);
    lines.push(fit(`+${rest.length} CPUs ${formatCount(Math.round(restRate))}/s`, width, glyphs));
  }
  return lines.slice(0, height);
}

/** A fleet's per-host table: events/s, total events, lost events, and the host's state. */
export function hostLines(hosts: readonly HostRow[], width: number, height: number, glyphs: Glyphs): string[] {
  if (height <= 0) return [];
  const labelWidth = Math.min(Math.max(4, ...hosts.map((host) => host.label.length)), Math.max(4, Math.floor(width * 0.35)));
  // Labels of one fleet often share their start (root@10.0.0.): a long one keeps its end.
  const label = (text: string): string => text.length <= labelWidth ? text.padEnd(labelWidth) : glyphs.ellipsis + text.slice(text.length - labelWidth + 1);
  const row = (name: string, rate: string, total: string, lost: string, state: string): string =>
    fit(`${label(name)}${rate.padStart(7)}${total.padStart(7)}${lost.padStart(6)} ${state}`, width, glyphs);
  const lines = [row('HOST', 'ev/s', 'total', 'lost', 'state')];
  for (const host of hosts.slice(0, Math.max(0, height - 1))) {
    lines.push(row(host.label, formatCount(Math.round(host.eventsPerSecond)), formatCount(host.total), formatCount(host.lost), host.state));
  }
  // A failure's reason is longer than the pane: the whole line goes on the next rows when there is room.
  for (const host of hosts) {
    if (lines.length >= height || !host.state.startsWith('failed')) continue;
    lines.push(fit(`${host.label}: ${host.state}`, width, glyphs));
  }
  return lines.slice(0, height);
}

/** A sparkline of `values` in `width` columns (each column the mean of its share of values). */
export function sparkline(values: readonly number[], width: number, glyphs: Glyphs): string {
  if (width <= 0) return '';
  const columns = Math.min(width, values.length);
  const means: number[] = [];
  for (let column = 0; column < columns; column++) {
    const from = Math.floor((column * values.length) / columns);
    const to = Math.max(from + 1, Math.floor(((column + 1) * values.length) / columns));
    let sum = 0;
    for (let index = from; index < to; index++) sum += values[index]!;
    means.push(sum / (to - from));
  }
  const max = Math.max(0, ...means);
  const top = glyphs.levels.length - 1;
  const line = means.map((value) => (max <= 0 || value <= 0 ? glyphs.levels[0]! : glyphs.levels[Math.max(1, Math.round((value / max) * top))]!)).join('');
  return line.padStart(width);
}

/**
 * Event rates per probe over the last minute: `label ▁▂▅▇ 1.2k/s` (the mean of the last
 * 10 s), the busiest first when they do not all fit.
 */
export function rateLines(probes: readonly ProbeRates[], width: number, height: number, glyphs: Glyphs): string[] {
  if (height <= 0) return [];
  if (probes.length === 0) return [fit('nothing attached', width, glyphs)];
  const shown = probes.length <= height ? probes : [...probes].sort((a, b) => b.recent - a.recent).slice(0, height);
  const labelWidth = Math.min(Math.max(8, Math.floor(width * 0.4)), Math.max(...shown.map((probe) => probe.label.length)));
  const rates = shown.map((probe) => `${formatRate(probe.recent)}/s`);
  const rateWidth = Math.max(...rates.map((text) => text.length));
  const sparkWidth = Math.max(1, width - labelWidth - rateWidth - 2);
  return shown.map((probe, index) => fit(`${fit(probe.label, labelWidth, glyphs)} ${sparkline(probe.rates, sparkWidth, glyphs)} ${rates[index]!.padStart(rateWidth)}`, width, glyphs));
}

export interface StatusState {
  readonly paused: boolean;
  readonly intervalMs: number;
  /** A passing note (a saved screen, a table picked) shown instead of the key list. */
  readonly note: string | null;
}

/** The status line: elapsed, events, lost, VM instructions/s, RSS, and the keys. */
export function statusLine(model: DashboardModel, state: StatusState, width: number, glyphs: Glyphs): string {
  const stats = `${state.paused ? 'PAUSED ' : ''}${formatElapsed(model.elapsedMs)} ev ${formatCount(model.totalEvents)} lost ${formatCount(model.totalLost)}` +
    ` vm ${formatCount(Math.round(model.instructionsPerSecond))}/s rss ${formatBytes(model.rssBytes)}`;
  const keyVariants = [
    `q quit  p ${state.paused ? 'resume' : 'pause'}  Tab table  r reset  +/- ${formatInterval(state.intervalMs)}  ? help  s save`,
    `q quit p ${state.paused ? 'resume' : 'pause'} Tab r +/- ${formatInterval(state.intervalMs)} ? s`,
    // Paused, the way back matters most: it stays spelled out even in the shortest form.
    `q p${state.paused ? ' resume' : ''} Tab r +/- ? s`,
  ];
  const right = state.note ?? keyVariants.find((keys) => stats.length + 2 + keys.length <= width) ?? keyVariants[keyVariants.length - 1]!;
  const gap = Math.max(1, width - stats.length - right.length);
  return fit(stats + ' '.repeat(gap) + right, width, glyphs);
}

export const HELP_LINES: readonly string[] = [
  'ktap dashboard',
  '',
  'q, Ctrl-C   quit (trace_end runs, output',
  '            goes to the normal screen)',
  'p           pause/resume the display',
  '            (events are still counted)',
  'Tab, S-Tab  next / previous table',
  '1-9         show table N;  0 automatic',
  'r           reset event rates',
  '+ / -       refresh slower / faster',
  's           save the screen as text',
  '?           this help (any key closes)',
];
