// What the dashboard shows, sampled from the stats the session keeps at each refresh:
// per-CPU counters, handler runs, VM instructions and the session's tables. Never in the event path.

import type { Session, SessionStats } from '../session/session';
import { KTable } from '../vm/table';
import { KTuple } from '../vm/tuple';
import { isNumber, toBigInt, toDisplayString, tupleText, type Value } from '../vm/value';
import { bucketLabel, linearBucketsFrom, linearRangeOf, log2BucketIndex, log2BucketsFrom, type Bucket, type BucketKind } from '../vm/lib/buckets';

/** Rates are kept for this long (the event-rates pane shows the last minute). */
export const RATE_WINDOW_MS = 60_000;
/** The rate shown beside each sparkline is the mean over this long. */
export const RECENT_MS = 10_000;
/** Tables bigger than this are scored by their size change only, not entry by entry. */
const SCAN_LIMIT = 20_000;
/** Numbers this large are times in ns rather than counts: a change of one counts once. */
const TIMESTAMP_LIKE = 1e12;
/** A table must be updated this much more than the shown one before it takes its place. */
const SWITCH_RATIO = 1.5;

export interface CpuRow {
  readonly cpu: number;
  readonly eventsPerSecond: number;
  readonly total: number;
  readonly lost: number;
  /** Share of all handler time spent on this CPU's events, 0…1. */
  readonly handlerShare: number;
}

/** One host of a fleet (--hosts), as its coordinator knows it. */
export interface HostRow {
  readonly label: string;
  /** connecting, tracing, ended, or `failed: REASON`. */
  readonly state: string;
  readonly eventsPerSecond: number;
  readonly total: number;
  readonly lost: number;
}

export interface ProbeRates {
  readonly id: number;
  readonly label: string;
  readonly total: number;
  /** Events per second at each sample of the last minute, oldest first. */
  readonly rates: readonly number[];
  /** When each rate was sampled (performance.now() ms). */
  readonly times: readonly number[];
  /** Events per second over the last RECENT_MS (a tick-10s shows 0.1, not 0 or 1). */
  readonly recent: number;
}

export interface TableInfo {
  readonly name: string;
  readonly table: KTable;
  /** How much the script updates it: the change per refresh (see changeSince), smoothed. */
  score: number;
  /** The table's last seen values, to count changed entries. */
  previous: Map<Value, Value>;
  previousLength: number;
}

export interface HistogramRow {
  readonly label: string;
  readonly count: number;
}

export interface Histogram {
  readonly name: string;
  readonly rows: readonly HistogramRow[];
  /** Keys not shown. */
  readonly more: number;
  /** Keys are log2() buckets, shown in bucket order with empty buckets filled in. */
  readonly powerOfTwo: boolean;
  /** Keys are log2() or linear() buckets, shown in bucket order (labels are ranges). */
  readonly bucketed: boolean;
  /** Entries whose value is not a number (not shown). */
  readonly skipped: number;
}

export class DashboardModel {
  elapsedMs = 0;
  totalEvents = 0;
  totalLost = 0;
  instructionsPerSecond = 0;
  rssBytes = 0;
  /** Fraction of wall time spent running handlers (sampled), over the last refresh. */
  handlerBusy = 0;
  cpus: CpuRow[] = [];
  /** A fleet's hosts, in place of the CPUs; null on one machine. */
  hosts: readonly HostRow[] | null = null;
  probes: ProbeRates[] = [];
  readonly tables: TableInfo[] = [];
  /** The table shown: picked by the user, or else the one updated most. */
  selectedName: string | null = null;
  pickedByUser = false;

  private lastSampleMs: number;
  private lastInstructions: number;
  private lastCpuEvents: number[] = [];
  private lastCpuHandlerMs: number[] = [];
  private readonly lastRuns = new Map<number, number>();
  private readonly rateHistory = new Map<number, { times: number[]; rates: number[] }>();

  constructor(
    private readonly session: Session,
    private readonly startedMs: number,
    now: number,
    /** A fleet's hosts (the events happen there; the rates pane shows each host's). */
    private readonly fleetHosts?: () => readonly HostRow[],
  ) {
    this.lastSampleMs = now;
    this.lastInstructions = session.stats().instructions;
    this.sample(now, false);
  }

  /** Reads the session's counters at `now` (ms, performance.now()); `rates`: keep the rates. */
  sample(now: number, rates = true): void {
    const stats = this.session.stats();
    const seconds = Math.max((now - this.lastSampleMs) / 1000, 1e-3);
    this.elapsedMs = now - this.startedMs;
    this.rssBytes = process.memoryUsage.rss();
    if (rates) this.instructionsPerSecond = (stats.instructions - this.lastInstructions) / seconds;
    this.lastInstructions = stats.instructions;
    if (this.fleetHosts !== undefined) this.sampleHosts(now, rates);
    else {
      this.sampleCpus(stats, seconds, rates);
      this.sampleProbes(stats, now, seconds, rates);
    }
    this.sampleTables(stats);
    this.lastSampleMs = now;
  }

  private sampleCpus(stats: SessionStats, seconds: number, rates: boolean): void {
    if (stats.cpus === null) {
      this.handlerBusy = 0;
      return; // keeps the last figures once the session has closed its kernel side
    }
    const { events, handlerMs, lost } = stats.cpus;
    const count = Math.max(events.length, ...[...lost.keys()].map((cpu) => cpu + 1));
    let handlerDelta = 0;
    for (let cpu = 0; cpu < handlerMs.length; cpu++) handlerDelta += (handlerMs[cpu] ?? 0) - (this.lastCpuHandlerMs[cpu] ?? 0);
    const rows: CpuRow[] = [];
    let total = 0;
    let totalLost = 0;
    for (let cpu = 0; cpu < count; cpu++) {
      const cpuEvents = events[cpu] ?? 0;
      const cpuHandlerMs = handlerMs[cpu] ?? 0;
      const previous = rates ? this.cpus.find((row) => row.cpu === cpu) : undefined;
      rows.push({
        cpu,
        eventsPerSecond: rates ? (cpuEvents - (this.lastCpuEvents[cpu] ?? 0)) / seconds : previous?.eventsPerSecond ?? 0,
        total: cpuEvents,
        lost: lost.get(cpu) ?? 0,
        handlerShare: handlerDelta > 0 ? (cpuHandlerMs - (this.lastCpuHandlerMs[cpu] ?? 0)) / handlerDelta : previous?.handlerShare ?? 0,
      });
      total += cpuEvents;
      totalLost += lost.get(cpu) ?? 0;
    }
    this.handlerBusy = Math.min(1, handlerDelta / (seconds * 1000));
    this.cpus = rows;
    this.totalEvents = total;
    this.totalLost = totalLost;
    this.lastCpuEvents = Array.from(events);
    this.lastCpuHandlerMs = Array.from(handlerMs);
  }

  private sampleProbes(stats: SessionStats, now: number, seconds: number, rates: boolean): void {
    const probes: ProbeRates[] = [];
    for (const { handler, runs } of stats.probes) {
      const rate = Math.max(0, (runs - (this.lastRuns.get(handler.id) ?? runs)) / seconds);
      this.lastRuns.set(handler.id, runs);
      probes.push(this.rateRow(handler.id, handler.header, runs, rates ? rate : undefined, now));
    }
    this.probes = probes;
  }

  /** A fleet: per-host rows, their totals, and each host's events/s in the rates pane. */
  private sampleHosts(now: number, rates: boolean): void {
    const hosts = this.fleetHosts!();
    this.hosts = hosts;
    this.totalEvents = hosts.reduce((sum, host) => sum + host.total, 0);
    this.totalLost = hosts.reduce((sum, host) => sum + host.lost, 0);
    this.probes = hosts.map((host, index) => this.rateRow(index, host.label, host.total, rates ? host.eventsPerSecond : undefined, now));
  }

  /** One row of the rates pane, its history extended by `rate` (when sampling rates). */
  private rateRow(id: number, label: string, total: number, rate: number | undefined, now: number): ProbeRates {
    let history = this.rateHistory.get(id);
    if (history === undefined) this.rateHistory.set(id, (history = { times: [], rates: [] }));
    if (rate !== undefined) {
      history.times.push(now);
      history.rates.push(rate);
      while (history.times.length > 0 && history.times[0]! < now - RATE_WINDOW_MS) {
        history.times.shift();
        history.rates.shift();
      }
    }
    return { id, label, total, rates: history.rates, times: history.times, recent: recentRate(history, now) };
  }

  /** `r`: forgets the rate history; rates start again from now. */
  resetRates(): void {
    this.rateHistory.clear();
    this.probes = this.probes.map((probe) => ({ ...probe, rates: [], times: [], recent: 0 }));
  }

  // ---- tables -----------------------------------------------------------------------

  /**
   * Finds the session's tables and scores each by the entries that changed since the last
   * sample (smoothed): the table the script updates most is shown unless the user picked one.
   */
  private sampleTables(stats: SessionStats): void {
    const seen = new Set<string>();
    for (const { name, table: value } of stats.tables) {
      seen.add(name);
      let info = this.tables.find((candidate) => candidate.name === name);
      if (info === undefined || info.table !== value) {
        const fresh: TableInfo = { name, table: value, score: 0, previous: new Map(), previousLength: 0 };
        if (info === undefined) this.tables.push(fresh);
        else this.tables[this.tables.indexOf(info)] = fresh;
        info = fresh;
      }
      info.score = info.score / 2 + changeSince(info);
    }
    for (let index = this.tables.length - 1; index >= 0; index--) {
      if (!seen.has(this.tables[index]!.name)) this.tables.splice(index, 1);
    }
    this.chooseTable();
  }

  private chooseTable(): void {
    const current = this.tables.find((info) => info.name === this.selectedName);
    if (current !== undefined && this.pickedByUser) return;
    this.pickedByUser = false;
    let best: TableInfo | undefined;
    for (const info of this.tables) if (best === undefined || info.score > best.score) best = info;
    if (best === undefined) {
      this.selectedName = null;
      return;
    }
    // The shown table stays until another is clearly busier, so the pane does not flip.
    if (current !== undefined && best.score <= current.score * SWITCH_RATIO) best = current;
    // Before anything changes, a table with entries beats an empty one.
    if (best.score === 0 && best.table.length === 0) best = this.tables.find((info) => info.table.length > 0) ?? best;
    this.selectedName = best.name;
  }

  /** Tab: the next table; `index` (0-based, number keys): that one; null: back to automatic. */
  pickTable(index: number | 'next' | 'previous' | null): void {
    if (this.tables.length === 0) return;
    if (index === null) {
      this.pickedByUser = false;
      this.chooseTable();
      return;
    }
    const current = this.tables.findIndex((info) => info.name === this.selectedName);
    const next = index === 'next' ? (current + 1) % this.tables.length
      : index === 'previous' ? (current - 1 + this.tables.length) % this.tables.length : index;
    const info = this.tables[next];
    if (info === undefined) return;
    this.selectedName = info.name;
    this.pickedByUser = true;
  }

  /** The shown table as histogram rows, at most `limit` of them. */
  histogram(limit: number): Histogram | null {
    const info = this.tables.find((candidate) => candidate.name === this.selectedName);
    if (info === undefined) return null;
    return histogramOf(info.name, info.table, limit);
  }
}

/** Mean of the rates sampled in the last RECENT_MS (each weighs by the time it covers). */
function recentRate(history: { times: number[]; rates: number[] }, now: number): number {
  let events = 0;
  let covered = 0;
  for (let index = history.times.length - 1; index >= 1; index--) {
    if (history.times[index]! <= now - RECENT_MS) break;
    const span = history.times[index]! - history.times[index - 1]!;
    events += history.rates[index]! * span;
    covered += span;
  }
  return covered > 0 ? events / covered : history.rates[history.rates.length - 1] ?? 0;
}

/**
 * How much the table changed since the last call: for each entry, how much its number grew
 * or shrank (the increments of a count are its updates), or 1 for an entry added, removed,
 * holding something else than a number, or holding a timestamp (so that a table of times
 * does not drown the counts).
 */
function changeSince(info: TableInfo): number {
  const table = info.table;
  const length = table.length;
  if (length > SCAN_LIMIT) {
    const changed = Math.abs(length - info.previousLength);
    info.previousLength = length;
    info.previous.clear();
    return changed;
  }
  let change = 0;
  const previous = info.previous;
  const iterator = table.iterate();
  while (iterator.next()) {
    const before = previous.get(iterator.key);
    const value = iterator.value;
    if (before === value) continue;
    change += typeof value === 'number' && typeof before === 'number' && Math.abs(value) < TIMESTAMP_LIKE ? Math.abs(value - before) : 1;
    previous.set(iterator.key, value);
  }
  if (previous.size > length) {
    // Entries were removed: count them and forget them.
    for (const key of [...previous.keys()]) {
      if (table.get(key) === undefined) {
        previous.delete(key);
        change++;
      }
    }
  }
  info.previousLength = length;
  return change;
}

/**
 * Rows of a table of numbers: the `limit` largest or, for a table of buckets (every key a
 * log2() bucket, or a linear() one of the range print_linear last printed it with), the
 * buckets in order with empty ones filled in.
 */
export function histogramOf(name: string, table: KTable, limit: number): Histogram {
  const entries: Array<{ key: Value; count: number }> = [];
  let skipped = 0;
  const iterator = table.iterate();
  while (iterator.next()) {
    const value = iterator.value;
    if (typeof value === 'number') entries.push({ key: iterator.key, count: value });
    else if (typeof value === 'bigint') entries.push({ key: iterator.key, count: Number(value) });
    else skipped++;
  }
  const rows = Math.max(1, limit);
  const buckets = entries.length >= 2 ? bucketsOf(table, entries) : undefined;
  if (buckets !== undefined) return { name, ...bucketRows(buckets.list, buckets.kind, rows, entries.length), powerOfTwo: buckets.kind === 'log2', bucketed: true, skipped };
  // Array.prototype.sort is stable: ties keep the table's iteration order.
  entries.sort((a, b) => b.count - a.count);
  const shownCount = entries.length > rows ? rows - 1 : entries.length; // one row says how many more
  return {
    name,
    rows: entries.slice(0, shownCount).map((entry) => ({ label: histogramLabel(entry.key), count: entry.count })),
    more: entries.length - shownCount,
    powerOfTwo: false,
    bucketed: false,
    skipped,
  };
}

/** A key as a row label: tuple keys as `a, b`, like print_hist. */
function histogramLabel(key: Value): string {
  return key instanceof KTuple ? tupleText(key) : toDisplayString(key);
}

/** The table's buckets in order when its keys are all log2() or (known) linear() buckets. */
function bucketsOf(table: KTable, entries: ReadonlyArray<{ key: Value; count: number }>): { list: Bucket[]; kind: BucketKind } | undefined {
  if (!entries.every((entry) => isNumber(entry.key))) return undefined;
  const counts = new Map(entries.map((entry) => [toBigInt(entry.key as number | bigint), entry.count]));
  if ([...counts.keys()].every((key) => log2BucketIndex(key) !== undefined)) return { list: log2BucketsFrom(counts), kind: 'log2' };
  const range = linearRangeOf(table, counts.keys());
  return range === undefined ? undefined : { list: linearBucketsFrom(counts, range), kind: 'linear' };
}

/** All buckets when they fit; otherwise the `limit` consecutive buckets holding most. */
function bucketRows(all: readonly Bucket[], kind: BucketKind, limit: number, keys: number): { rows: HistogramRow[]; more: number } {
  let start = 0;
  if (all.length > limit) {
    let best = -1;
    for (let first = 0; first + limit <= all.length; first++) {
      const sum = all.slice(first, first + limit).reduce((total, bucket) => total + Number(bucket.count), 0);
      if (sum > best) [best, start] = [sum, first];
    }
  }
  const shown = all.slice(start, start + limit);
  const shownKeys = shown.filter((bucket) => Number(bucket.count) !== 0).length;
  return {
    rows: shown.map((bucket) => ({ label: bucketLabel(bucket, kind), count: Number(bucket.count) })),
    more: keys - shownKeys,
  };
}
