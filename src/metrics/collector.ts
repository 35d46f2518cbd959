// One scrape: the script's tables and numeric variables, ktap's own counters and the
// process's figures, read at scrape time (never in the event path) and written as exposition text.

import { KTable } from '../vm/table';
import { KTuple } from '../vm/tuple';
import { parseDecimalInteger, type Value } from '../vm/value';
import { ExpositionWriter, escapeLabelValue, labelSet, metricName, sampleLine, type MetricType } from './exposition';
import type { MetricsSource, MetricsStats } from './source';

/** Keys of one table exposed at most, by default (--metrics-max-keys). */
export const DEFAULT_MAX_KEYS = 10_000;

/** Why entries of a table were left out of a scrape: the `reason` of ktap_metrics_omitted_entries. */
type OmitReason = 'over_limit' | 'not_a_number' | 'key_not_scalar' | 'duplicate_labels' | 'name_clash';

/** ktap's own families; a script variable whose metric name would be one of these is left out. */
const OWN_FAMILIES = new Set([
  'ktap_events_total', 'ktap_lost_events_total', 'ktap_probe_events_total', 'ktap_handler_runs_total',
  'ktap_handler_seconds_total', 'ktap_table_entries', 'ktap_metrics_omitted_entries',
]);

/**
 * What earlier scrapes saw of a table, to tell a counter from a gauge: a table is a counter
 * while every scrape finds each value a non-negative number no smaller than at the scrape
 * before and no key gone; the first scrape that finds otherwise makes it a gauge for good.
 */
interface TableHistory {
  table: KTable;
  counter: boolean;
  /** Each key's value at the last scrape, while the table is still a counter. */
  previous: Map<Value, number | bigint> | null;
}

export class MetricsCollector {
  private readonly histories = new Map<string, TableHistory>();

  /** `maxKeys`: keys exposed per table at most (0: no limit). */
  constructor(private readonly source: MetricsSource, private readonly maxKeys = DEFAULT_MAX_KEYS) {}

  /** The exposition text of this instant. */
  scrape(): string {
    const writer = new ExpositionWriter();
    const entries: Array<readonly [string, number]> = [];
    const omitted: Array<readonly [string, number]> = [];
    const omit = (table: string, reason: OmitReason, count: number): void => {
      if (count > 0) omitted.push([labelSet(['table', 'reason'], [table, reason]), count]);
    };
    for (const [name, value] of this.source.variables()) {
      const family = `ktap_${metricName(name)}`;
      if (value instanceof KTable) {
        entries.push([labelSet(['table'], [name]), value.length]);
        if (OWN_FAMILIES.has(family)) omit(name, 'name_clash', value.length);
        else this.writeTable(writer, name, family, value, omit);
      } else if (typeof value === 'number' || typeof value === 'bigint') {
        if (!OWN_FAMILIES.has(family)) writer.family(family, 'gauge', `ktap variable ${name}`, [['', value]]);
      }
    }
    writer.family('ktap_table_entries', 'gauge', 'Entries of each table of the script.', entries);
    writer.family('ktap_metrics_omitted_entries', 'gauge', 'Table entries left out of this scrape, by reason.', omitted);
    writeStats(writer, this.source.stats());
    writeProcess(writer);
    return writer.text();
  }

  private writeTable(writer: ExpositionWriter, name: string, family: string, table: KTable, omit: (table: string, reason: OmitReason, count: number) => void): void {
    let history = this.histories.get(name);
    if (history === undefined || history.table !== table) {
      // A table replaced by another (`t = {}`) has been reset: a gauge, as one that shrank.
      history = { table, counter: history === undefined, previous: history === undefined ? new Map() : null };
      this.histories.set(name, history);
    }
    const previous = history.previous;
    const keysBefore = previous?.size ?? 0;
    let keysSeenBefore = 0;
    let counter = history.counter;
    let samples = '';
    let exposed = 0;
    const nonAscii = new Set<string>();
    const tupleLabels = new Set<string>();
    const limit = this.maxKeys > 0 ? this.maxKeys : Infinity;
    let overLimit = 0;
    let notNumber = 0;
    let notScalar = 0;
    let duplicates = 0;
    const iterator = table.iterate();
    while (iterator.next()) {
      const key = iterator.key;
      const value = iterator.value;
      if (typeof value !== 'number' && typeof value !== 'bigint') {
        notNumber++;
        continue;
      }
      if (counter && previous !== null) {
        const before = previous.get(key);
        if (before !== undefined) keysSeenBefore++;
        if (value < 0 || (before !== undefined && value < before)) counter = false;
        else previous.set(key, value);
      }
      if (exposed >= limit) {
        overLimit++;
        continue;
      }
      const labels = key instanceof KTuple ? tupleKeyLabels(key, tupleLabels) : keyLabels(key, table, nonAscii);
      if (labels === null) {
        notScalar++;
        continue;
      }
      if (labels === DUPLICATE) {
        duplicates++;
        continue;
      }
      samples += sampleLine(family, labels, value);
      exposed++;
    }
    if (keysSeenBefore < keysBefore) counter = false; // a key is gone
    if (!counter) {
      history.counter = false;
      history.previous = null;
    }
    const type: MetricType = counter ? 'counter' : 'gauge';
    writer.family(family, type, `ktap table ${name}`, samples);
    omit(name, 'over_limit', overLimit);
    omit(name, 'not_a_number', notNumber);
    omit(name, 'key_not_scalar', notScalar);
    omit(name, 'duplicate_labels', duplicates);
  }
}

/** ktap's own counters: events and lost events per CPU, events per probe, runs and time of handlers. */
function writeStats(writer: ExpositionWriter, stats: MetricsStats): void {
  const cpuLabel = (cpu: number): string => labelSet(['cpu'], [String(cpu)]);
  writer.family('ktap_events_total', 'counter', 'Kernel records delivered, per CPU.',
    stats.eventsPerCpu.map((count, cpu) => [cpuLabel(cpu), count] as const));
  writer.family('ktap_lost_events_total', 'counter', 'Events the kernel lost (ring buffer full), per CPU.',
    [...stats.lostPerCpu].sort(([a], [b]) => a - b).map(([cpu, count]) => [cpuLabel(cpu), count] as const));
  writer.family('ktap_probe_events_total', 'counter', 'Kernel records delivered, per traced event.',
    stats.eventsPerProbe.map(({ event, count }) => [labelSet(['event'], [event]), count] as const));
  writer.family('ktap_handler_runs_total', 'counter', 'Runs of each handler of the script.',
    stats.handlerRuns.map(({ id, header, runs }) => [labelSet(['handler', 'id'], [header, String(id)]), runs] as const));
  writer.family('ktap_handler_seconds_total', 'counter', 'Time spent running handlers, per CPU (estimated from one delivery in 64).',
    stats.handlerMsPerCpu.map((ms, cpu) => [cpuLabel(cpu), ms / 1000] as const));
}

/** The usual process figures of an exporter, so ktap's own cost shows beside what it traces. */
function writeProcess(writer: ExpositionWriter): void {
  const cpu = process.cpuUsage();
  writer.family('process_cpu_seconds_total', 'counter', 'User and system CPU time of ktap in seconds.', [['', (cpu.user + cpu.system) / 1e6]]);
  writer.family('process_resident_memory_bytes', 'gauge', 'Resident memory of ktap in bytes.', [['', process.memoryUsage.rss()]]);
  writer.family('process_start_time_seconds', 'gauge', 'Start time of ktap since the Unix epoch in seconds.', [['', Math.round(Date.now() / 1000 - process.uptime())]]);
}

const DUPLICATE = Symbol('duplicate');

/**
 * The labels of a table key: `key="…"` for a number, string or boolean; null for a table or
 * function key; DUPLICATE when another key of the table has the same labels. Strings are
 * byte strings, shown as UTF-8 with invalid sequences as U+FFFD.
 *
 * Labels repeat only when a string spells a number or boolean key of the table ("7" and 7:
 * the number keeps the labels) or when two non-ASCII strings decode alike (the first keeps
 * them). Those cases are checked directly: a set of every key's labels would double the
 * cost of a scrape.
 */
function keyLabels(key: Value, table: KTable, nonAscii: Set<string>): string | null | typeof DUPLICATE {
  switch (typeof key) {
    case 'number': case 'bigint': case 'boolean': return `{key="${key}"}`;
    case 'string': break;
    default: return null;
  }
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(key)) {
    const text = Buffer.from(key, 'latin1').toString('utf8');
    if (nonAscii.has(text)) return DUPLICATE;
    nonAscii.add(text);
    return `{key="${escapeLabelValue(text)}"}`;
  }
  if (spellsScalarKey(key, table)) return DUPLICATE;
  return `{key="${escapeLabelValue(key)}"}`;
}

/**
 * The labels of a tuple key (`s[execname, probename]`): `{key1="…",key2="…"}`, one label per
 * part (nil as ""); null when a part is itself a tuple. Two tuples label alike only when
 * their parts read alike (7 and "7"), which `seen` (this scrape's tuple labels) tells.
 */
function tupleKeyLabels(key: KTuple, seen: Set<string>): string | null | typeof DUPLICATE {
  const names: string[] = [];
  const values: string[] = [];
  for (const part of key.parts) {
    if (part instanceof KTuple) return null;
    names.push(`key${names.length + 1}`);
    values.push(part === undefined ? '' : typeof part === 'string' ? Buffer.from(part, 'latin1').toString('utf8') : String(part));
  }
  const labels = labelSet(names, values);
  if (seen.has(labels)) return DUPLICATE;
  seen.add(labels);
  return labels;
}

/** Whether `text` is how a number or boolean key of `table` with a numeric value is shown. */
function spellsScalarKey(text: string, table: KTable): boolean {
  const first = text.charCodeAt(0);
  let key: Value;
  if ((first >= 0x30 && first <= 0x39) || first === 0x2d) {
    key = parseDecimalInteger(text);
    if (key === undefined || String(key) !== text) return false;
  } else if (text === 'true' || text === 'false') {
    key = text === 'true';
  } else {
    return false;
  }
  const value = table.get(key);
  return typeof value === 'number' || typeof value === 'bigint';
}
