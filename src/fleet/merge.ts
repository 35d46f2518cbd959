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
        for (const [wireKey, wireValue] of update.set ?? []) {
          this.change(update.name, values, decodeKey(wireKey), decodeValue(wireValue), target);
        }
        for (const wireKey of update.del ?? []) this.change(update.name, values, decodeKey(wireKey), undefined, target);
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
    const before = values.get(key);
    if (before === next) return;
    if (next === undefined) values.delete(key);
    else values.set(key, next);
    const slot = key === SCALAR ? target : tableSlot(target, key, this.rt);
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
