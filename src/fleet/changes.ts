// An agent's view of its script's top-level variables between two updates: what changed
// since the last one sent, as variable updates of the wire protocol, cut into chunks.

import { KTable } from '../vm/table';
import type { Value } from '../vm/value';
import { MAX_PATH_KEYS, UPDATE_CHUNK_BYTES, encodeValue, type VariableUpdate, type WireValue } from './protocol';

/** A top-level variable: its name and where its value lives now. */
export interface Variable {
  readonly name: string;
  read(): Value;
}

interface Sent {
  /** The entries last sent, for a table; null for a scalar. */
  entries: Map<Value, Value | SentTable> | null;
  scalar: Value;
}

/** What was last sent of a table in a table: the table, and its entries as sent. */
class SentTable {
  readonly entries = new Map<Value, Value | SentTable>();
  constructor(readonly table: KTable) {}
}

/** Says that what was sent at `path` (a value, or every entry of a table in the table) is gone. */
function removeSent(sent: Value | SentTable, path: readonly WireValue[], out: TableUpdateWriter): void {
  if (!(sent instanceof SentTable)) return out.del(path);
  for (const [key, below] of sent.entries) removeSent(below, [...path, encodeValue(key)!], out);
}

/** Collects a table's changes into updates of about UPDATE_CHUNK_BYTES each, in the order they were found. */
class TableUpdateWriter {
  private sets: Array<[WireValue, WireValue]> = [];
  private dels: WireValue[] = [];
  private setPaths: Array<[WireValue[], WireValue]> = [];
  private delPaths: WireValue[][] = [];
  private size = 0;

  constructor(private readonly name: string, private readonly emit: (update: VariableUpdate, bytes: number) => void) {}

  set(path: WireValue[], value: WireValue): void {
    if (path.length === 1) this.sets.push([path[0]!, value]);
    else this.setPaths.push([path, value]);
    this.grow(8 + estimate(path) + estimate(value));
  }

  del(path: readonly WireValue[]): void {
    if (path.length === 1) this.dels.push(path[0]!);
    else this.delPaths.push([...path]);
    this.grow(4 + estimate(path));
  }

  flush(): void {
    if (this.size === 0) return;
    this.emit({
      name: this.name,
      ...(this.sets.length > 0 ? { set: this.sets } : {}),
      ...(this.dels.length > 0 ? { del: this.dels } : {}),
      ...(this.setPaths.length > 0 ? { setPath: this.setPaths } : {}),
      ...(this.delPaths.length > 0 ? { delPath: this.delPaths } : {}),
    }, this.size);
    this.sets = [];
    this.dels = [];
    this.setPaths = [];
    this.delPaths = [];
    this.size = 0;
  }

  private grow(bytes: number): void {
    this.size += bytes;
    if (this.size >= UPDATE_CHUNK_BYTES) this.flush();
  }
}

/**
 * Compares each variable with what was last sent and returns the differences: changed or
 * new entries with their current value, removed keys, a scalar's new value; tables in
 * tables by the path of keys to each entry. What cannot travel (functions, tables as keys,
 * tables nested too deep) is left out and named once through `warn`.
 */
export class ChangeTracker {
  private readonly sent = new Map<string, Sent>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly variables: () => Iterable<Variable>,
    private readonly warn: (message: string) => void,
  ) {}

  /** The changes since the last call, in chunks of about UPDATE_CHUNK_BYTES; [] when nothing changed. */
  changes(): VariableUpdate[][] {
    const chunks: VariableUpdate[][] = [];
    let chunk: VariableUpdate[] = [];
    let size = 0;
    const emit = (update: VariableUpdate, bytes: number): void => {
      chunk.push(update);
      size += bytes;
      if (size >= UPDATE_CHUNK_BYTES) {
        chunks.push(chunk);
        chunk = [];
        size = 0;
      }
    };
    for (const variable of this.variables()) {
      const value = variable.read();
      if (typeof value === 'function') continue;
      let sent = this.sent.get(variable.name);
      if (sent === undefined) this.sent.set(variable.name, (sent = { entries: null, scalar: undefined }));
      if (value instanceof KTable) this.tableChanges(variable.name, value, sent, emit);
      else this.scalarChange(variable.name, value, sent, emit);
    }
    if (chunk.length > 0) chunks.push(chunk);
    return chunks;
  }

  private scalarChange(name: string, value: Value, sent: Sent, emit: (update: VariableUpdate, bytes: number) => void): void {
    if (sent.entries !== null) {
      // It held a table before: its entries are gone.
      const del = [...sent.entries.keys()].map((key) => encodeValue(key)!);
      sent.entries = null;
      if (del.length > 0) emit({ name, del }, estimate(del));
    }
    if (value === sent.scalar) return;
    sent.scalar = value;
    const wire = value === undefined ? null : encodeValue(value);
    if (wire === undefined) return;
    emit({ name, value: wire }, 16 + (wire === null ? 4 : estimate(wire)));
  }

  private tableChanges(name: string, table: KTable, sent: Sent, emit: (update: VariableUpdate, bytes: number) => void): void {
    const out = new TableUpdateWriter(name, emit);
    this.diff(name, table, sent.entries ?? (sent.entries = new Map()), [], new Set([table]), out);
    out.flush();
  }

  /**
   * The differences between `table` and what was last sent of it (`previous`, updated),
   * written to `out`: a table in the table is walked down to MAX_PATH_KEYS keys, its
   * numbers and strings travelling by their path of keys. `within`: the tables on the way
   * down (a table that holds one of them would never end).
   */
  private diff(name: string, table: KTable, previous: Map<Value, Value | SentTable>, path: readonly WireValue[], within: Set<KTable>, out: TableUpdateWriter): void {
    // Entries that travel, counted: when fewer than were sent, some went (a set of keys per walk would cost more).
    let seen = 0;
    const nests = (value: Value): value is KTable => value instanceof KTable && path.length + 1 < MAX_PATH_KEYS && !within.has(value);
    const iterator = table.iterate();
    while (iterator.next()) {
      const key = iterator.key;
      const value = iterator.value;
      const before = previous.get(key);
      if (before === value) {
        seen++;
        continue;
      }
      const wireKey = encodeValue(key);
      const nested = wireKey !== undefined && nests(value);
      const wireValue = nested ? undefined : encodeValue(value);
      if (wireKey === undefined || (!nested && wireValue === undefined)) {
        this.warnOnce(name, `table ${name}: ${wireKey === undefined ? 'entries with a table or function as key' : typeof value === 'function' ? 'entries whose value is a function'
          : `tables nested deeper than ${MAX_PATH_KEYS} keys, or holding themselves,`} stay on the host`);
        continue; // not counted: what was sent of it goes
      }
      seen++;
      const at = [...path, wireKey];
      if (nested) {
        const table = value as KTable;
        let level = before instanceof SentTable && before.table === table ? before : undefined;
        if (level === undefined) {
          // A new table under this key (or one that replaced a value): what was there goes first.
          if (before !== undefined) removeSent(before, at, out);
          previous.set(key, (level = new SentTable(table)));
        }
        within.add(table);
        this.diff(name, table, level.entries, at, within, out);
        within.delete(table);
        continue;
      }
      if (before instanceof SentTable) removeSent(before, at, out);
      previous.set(key, value);
      out.set(at, wireValue!);
    }
    if (previous.size > seen) {
      for (const [key, before] of previous) {
        const value = table.get(key);
        if (value !== undefined && (encodeValue(value) !== undefined || nests(value))) continue;
        previous.delete(key);
        removeSent(before, [...path, encodeValue(key)!], out);
      }
    }
  }

  private warnOnce(name: string, message: string): void {
    if (this.warned.has(name)) return;
    this.warned.add(name);
    this.warn(message);
  }
}

/** About how many bytes a value takes in JSON (strings may take more when escaped). */
function estimate(wire: WireValue | readonly WireValue[]): number {
  if (Array.isArray(wire)) return wire.reduce((total: number, item: WireValue) => total + estimate(item) + 1, 2);
  return typeof wire === 'string' ? wire.length + 2 : typeof wire === 'object' ? 30 : 20;
}
