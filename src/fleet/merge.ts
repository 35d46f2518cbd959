// The coordinator's merged view (docs/fleet.md): each host's top-level variables as last
// reported, folded into the coordinator's own variables — numbers summed across hosts,
// anything else kept per host in a table keyed by host label.

import { RuntimeError } from '../vm/errors';
import type { Runtime } from '../vm/runtime';
import { KTable } from '../vm/table';
import { addExact, isNumber, subExact, type Value } from '../vm/value';
import { decodeValue, ProtocolError, type VariableUpdate } from './protocol';

/** A coordinator variable the merge writes into (a session cell). */
export interface MergeTarget {
  get(): Value;
  set(value: Value): void;
}

/** The scalar of a variable is kept under this key of a host's mirror. */
const SCALAR = Symbol('scalar');
/** An entry of a table in a table is kept under its path (as JSON) after this character. */
const PATH_KEY = '\u0100';
type MirrorKey = Value | typeof SCALAR;

/** Where a merged key lives: a table entry, or the variable itself for a scalar. */
interface Slot {
  get(): Value;
  set(value: Value): void;
}

export class FleetMerge {
  /** Per host label, per variable: the values the host reported last. */
  private readonly mirrors = new Map<string, Map<string, Map<MirrorKey, Value>>>();
  /** Tables made here to hold one value per host; a number added to one goes to its host. */
  private readonly perHost = new WeakSet<KTable>();
  /** Merges that did not fit (a full table): reported once per variable. */
  readonly problems: string[] = [];
  private readonly failedVariables = new Set<string>();

  constructor(
    private readonly rt: Runtime,
    /** The coordinator's variable of this name, or undefined when the script has none. */
    private readonly target: (name: string) => MergeTarget | undefined,
    /** Host labels in --hosts order (per-host tables list them in that order). */
    private readonly labels: readonly string[],
  ) {
    for (const label of labels) this.mirrors.set(label, new Map());
  }

  /** Applies one host's update. ProtocolError when it carries something that is not a ktap value. */
  apply(label: string, updates: readonly VariableUpdate[]): void {
    const mirror = this.mirrors.get(label)!;
    for (const update of updates) {
      const target = this.target(update.name);
      if (target === undefined || this.failedVariables.has(update.name)) continue;
      let values = mirror.get(update.name);
      if (values === undefined) mirror.set(update.name, (values = new Map()));
      try {
        if (update.value !== undefined) {
          this.change(update.name, values, SCALAR, update.value === null ? undefined : decodeValue(update.value), target);
          continue;
        }
        // Removals first: a key whose value turned from a number into a table (or back) comes as both.
        for (const wireKey of update.del ?? []) this.change(update.name, values, decodeKey(wireKey), undefined, target);
        for (const wirePath of update.delPath ?? []) this.changeAt(update.name, values, wirePath, undefined, target);
        for (const [wireKey, wireValue] of update.set ?? []) {
          this.change(update.name, values, decodeKey(wireKey), decodeValue(wireValue), target);
        }
        for (const [wirePath, wireValue] of update.setPath ?? []) this.changeAt(update.name, values, wirePath, decodeValue(wireValue), target);
      } catch (error) {
        if (!(error instanceof RuntimeError)) throw error;
        // A merged table over --max-table-entries: this variable stops merging, the others go on.
        this.failedVariables.add(update.name);
        this.problems.push(`merged variable ${update.name}: ${error.message}; it is no longer merged`);
      }
    }
  }

  /** One host's value (in `values`, its mirror) for one key changed to `next`. */
  private change(name: string, values: Map<MirrorKey, Value>, key: MirrorKey, next: Value, target: MergeTarget): void {
    this.merge(name, values, key, next, () => key === SCALAR ? target : tableSlot(target, key, this.rt));
  }

  /**
   * One host's value for an entry of a table in the table, at the path of keys `wirePath`,
   * changed to `next`: the coordinator's tables on the way are made as needed, and those
   * a removal leaves empty go.
   */
  private changeAt(name: string, values: Map<MirrorKey, Value>, wirePath: readonly unknown[], next: Value, target: MergeTarget): void {
    const path = wirePath.map(decodeKey);
    // Mirrored under its path as text, which no ktap value is (ktap strings are bytes).
    const key = PATH_KEY + JSON.stringify(wirePath);
    const last = path[path.length - 1]!;
    /** The coordinator's tables from the variable down to the entry's: made where missing when `make`, else null. */
    const walk = (make: boolean): KTable[] | null => {
      const top = target.get();
      let table: KTable;
      if (top instanceof KTable) table = top;
      else if (!make) return null;
      else target.set(table = this.rt.newTable());
      const tables = [table];
      for (const step of path.slice(0, -1)) {
        const found = table.get(step);
        let below: KTable;
        // A number or a per-host table in the way: the table in the table takes its place.
        if (found instanceof KTable && !this.perHost.has(found)) below = found;
        else if (!make) return null;
        else table.set(step, below = this.rt.newTable());
        tables.push(table = below);
      }
      return tables;
    };
    this.merge(name, values, key, next, () => ({
      get: () => walk(false)?.at(-1)!.get(last),
      set: (value) => {
        const tables = walk(value !== undefined);
        if (tables === null) return;
        tables.at(-1)!.set(last, value);
        // Tables in the table that a removal leaves empty go, as they do not travel from the hosts.
        for (let depth = tables.length - 1; value === undefined && depth >= 1 && tables[depth]!.length === 0; depth--) tables[depth - 1]!.set(path[depth - 1]!, undefined);
      },
    }));
  }

  /** `values` (a host's mirror) holds `next` at `key` now; the merged value at `slot` follows. */
  private merge(name: string, values: Map<MirrorKey, Value>, key: MirrorKey, next: Value, where: () => Slot): void {
    const before = values.get(key);
    if (before === next) return;
    if (next === undefined) values.delete(key);
    else values.set(key, next);
    const slot = where();
    const merged = slot.get();
    const perHost = merged instanceof KTable && this.perHost.has(merged);
    const numeric = !perHost && (before === undefined || isNumber(before)) && (next === undefined || isNumber(next)) && (merged === undefined || isNumber(merged));
    if (numeric) {
      if (next === undefined && merged === undefined) return; // gone here already (cleared by a coordinator handler)
      // The difference, not the total: a coordinator handler that cleared the table sees what came since.
      const sum = subExact(addExact(merged ?? 0, (next ?? 0) as number | bigint), (before ?? 0) as number | bigint);
      slot.set(sum === 0 && next === undefined && !this.anyHostHas(name, key) ? undefined : sum);
      return;
    }
    // Something else than a number: every host's value, by label, in --hosts order.
    const holder = this.rt.newTable();
    this.perHost.add(holder);
    for (const host of this.labels) {
      const value = this.mirrors.get(host)!.get(name)?.get(key);
      if (value !== undefined) holder.set(host, value);
    }
    if (perHost) (merged as KTable).clear(); // its entries leave the table budget now, not at the next GC
    slot.set(holder.length === 0 ? undefined : holder);
  }

  private anyHostHas(name: string, key: MirrorKey): boolean {
    for (const mirror of this.mirrors.values()) if (mirror.get(name)?.has(key)) return true;
    return false;
  }
}

function decodeKey(wire: unknown): Value {
  const key = decodeValue(wire);
  if (key === undefined) throw new ProtocolError('nil table key');
  return key;
}

/** The entry `key` of the coordinator's table, made a table if it held something else. */
function tableSlot(target: MergeTarget, key: Value, rt: Runtime): Slot {
  let table = target.get();
  if (!(table instanceof KTable)) {
    table = rt.newTable();
    target.set(table);
  }
  const found = table;
  return { get: () => found.get(key), set: (value) => found.set(key, value) };
}
