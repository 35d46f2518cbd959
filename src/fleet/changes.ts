// An agent's view of its script's top-level variables between two updates: what changed
// since the last one sent, as variable updates of the wire protocol, cut into chunks.

import { KTable } from '../vm/table';
import type { Value } from '../vm/value';
import { UPDATE_CHUNK_BYTES, encodeValue, type VariableUpdate, type WireValue } from './protocol';

/** A top-level variable: its name and where its value lives now. */
export interface Variable {
  readonly name: string;
  read(): Value;
}

interface Sent {
  /** The entries last sent, for a table; null for a scalar. */
  entries: Map<Value, Value> | null;
  scalar: Value;
}

/**
 * Compares each variable with what was last sent and returns the differences: changed or
 * new entries with their current value, removed keys, a scalar's new value. Values that
 * cannot travel (tables, functions) are left out and named once through `warn`.
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
    const previous = sent.entries ?? (sent.entries = new Map());
    let set: Array<[WireValue, WireValue]> = [];
    let size = 0;
    const flush = (): void => {
      if (set.length > 0) emit({ name, set }, size);
      set = [];
      size = 0;
    };
    const iterator = table.iterate();
    let seen = 0;
    while (iterator.next()) {
      seen++;
      const key = iterator.key;
      const value = iterator.value;
      if (previous.get(key) === value) continue;
      const wireKey = encodeValue(key);
      const wireValue = encodeValue(value);
      if (wireKey === undefined || wireValue === undefined) {
        this.warnOnce(name, `table ${name}: entries whose value is a ${typeof value === 'function' ? 'function' : 'table'} stay on the host`);
        seen--;
        continue;
      }
      previous.set(key, value);
      set.push([wireKey, wireValue]);
      size += 8 + estimate(wireKey) + estimate(wireValue);
      if (size >= UPDATE_CHUNK_BYTES) flush();
    }
    flush();
    if (previous.size > seen) {
      const del: WireValue[] = [];
      for (const key of previous.keys()) {
        if (table.get(key) !== undefined && encodeValue(table.get(key)) !== undefined) continue;
        previous.delete(key);
        del.push(encodeValue(key)!);
      }
      if (del.length > 0) emit({ name, del }, estimate(del));
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
