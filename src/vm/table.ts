// The ktap table: an array part for keys 1…n stored in order plus an insertion-ordered
// hash part, iterated in key insertion order (SPEC §3.9) with entries counted against the
// sandbox's table budget.

import { RuntimeError } from './errors';
import { CHARGED_KEY_LENGTH, WORK_COST, type EntryBudget, type EntryCount, type Releasable } from './limits';
import type { Value } from './value';

/**
 * V8 hashes a string longer than this by its length alone (String::kMaxHashCalcLength), so
 * Map lookups among such keys of one length compare every one of them: 4,000 keys of 32 KiB
 * took 25 s. Those keys are stored as LongKey objects, found through a hash computed here.
 */
const V8_HASHED_LENGTH = 16383;

/** A long string key as the hash part holds it: an object, which Maps hash by identity. */
class LongKey {
  constructor(readonly text: string) {}
}

/** FNV-1a over the bytes: linear in the key, computed once per access. */
function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193);
  return hash >>> 0;
}

/**
 * Marks an array slot whose key was deleted. The key, if stored again, goes to the hash
 * part so that it moves to the end of the iteration order as SPEC §3.9 requires.
 */
const HOLE: unique symbol = Symbol('hole');
type Slot = Value | typeof HOLE;

export class KTable implements Releasable {
  /** Values of keys 1…arr.length (or HOLE). Grows only while the hash part has never been used. */
  private arr: Slot[] = [];
  private hash: Map<Value | LongKey, Value> | null = null;
  private count: EntryCount | null = null;
  /** LongKeys of the hash part by hashText of their text. */
  private longKeys: Map<number, LongKey[]> | null = null;

  /** References from cells and from other tables' keys and values (see EntryBudget). */
  refs = 0;
  /** Keys and values of this table that are tables. */
  private tableSlots = 0;
  private released = false;

  constructor(private readonly budget: EntryBudget) {
    budget.born(this);
  }

  get length(): number {
    return this.count === null ? 0 : this.count.n;
  }

  get(key: Value): Value {
    if (typeof key === 'number') {
      if (key >= 1 && key <= this.arr.length && Number.isInteger(key)) {
        const slot = this.arr[key - 1];
        if (slot !== HOLE) return slot;
      }
    } else if (typeof key === 'string' && key.length > CHARGED_KEY_LENGTH) {
      return this.getLong(key);
    }
    return this.hash === null ? undefined : this.hash.get(key);
  }

  set(key: Value, value: Value): void {
    // Tables as keys or values are counted references; other stores skip the bookkeeping.
    if (typeof value !== 'object' && this.tableSlots === 0 && typeof key !== 'object') this.store(key, value);
    else this.setCounted(key, value);
  }

  /** `set` keeping the references this table holds to tables counted. */
  private setCounted(key: Value, value: Value): void {
    const before = this.get(key);
    const isNew = before === undefined && value !== undefined;
    if (value instanceof KTable) this.holds(value);
    if (isNew && key instanceof KTable) this.holds(key);
    this.store(key, value);
    if (before instanceof KTable) this.drops(before);
    if (before !== undefined && value === undefined && key instanceof KTable) this.drops(key);
  }

  private holds(table: KTable): void {
    table.refs++;
    this.tableSlots++;
  }

  private drops(table: KTable): void {
    this.tableSlots--;
    this.budget.unref(table);
  }

  /**
   * Gives back this table's entries and its references to other tables (EntryBudget.collect,
   * once nothing refers to it). Its contents stay readable: a run's returned value is shown.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.count !== null) {
      this.budget.used -= this.count.n;
      this.count.n = 0;
    }
    this.dropAllReferences();
  }

  private dropAllReferences(): void {
    if (this.tableSlots === 0) return;
    const iterator = this.iterate();
    while (iterator.next()) {
      if (iterator.key instanceof KTable) this.budget.unref(iterator.key);
      if (iterator.value instanceof KTable) this.budget.unref(iterator.value);
    }
    this.tableSlots = 0;
  }

  private store(key: Value, value: Value): void {
    if (key === undefined) throw new RuntimeError('table nil index');
    const arr = this.arr;
    if (typeof key === 'number') {
      if (key >= 1 && key <= arr.length) {
        const slot = arr[key - 1];
        if (slot !== HOLE) {
          if (value === undefined) this.deleteArraySlot(key);
          else arr[key - 1] = value;
          return;
        }
      } else if (key === arr.length + 1 && this.hash === null) {
        if (value !== undefined) {
          this.added();
          arr.push(value);
        }
        return;
      }
    } else if (typeof key === 'string' && key.length > CHARGED_KEY_LENGTH) {
      this.setLong(key, value);
      return;
    }
    this.setInHash(key, value);
  }

  /** Removes every entry (the builtin `delete`). */
  clear(): void {
    this.dropAllReferences();
    if (this.count !== null) {
      this.budget.used -= this.count.n;
      this.count.n = 0;
    }
    this.arr.length = 0;
    if (this.hash !== null) this.hash.clear();
    this.longKeys = null;
  }

  /** A live iterator in SPEC §3.9 order. */
  iterate(): TableIterator {
    return new TableIterator(this);
  }

  /** Entries in iteration order (for print_hist, listings and tests). */
  *entries(): IterableIterator<[Value, Value]> {
    const iterator = this.iterate();
    while (iterator.next()) yield [iterator.key, iterator.value];
  }

  // -- internals used by TableIterator ---------------------------------------------

  arraySlot(index: number): Slot | undefined {
    return index < this.arr.length ? this.arr[index] : undefined;
  }
  get arrayLength(): number {
    return this.arr.length;
  }
  hashPart(): Map<Value | LongKey, Value> | null {
    return this.hash;
  }

  // -- long string keys: charged for their bytes; past V8's hashed length, wrapped ---

  private getLong(key: string): Value {
    this.budget.chargeWork(key.length / WORK_COST.bytesPerUnit);
    if (this.hash === null) return undefined;
    if (key.length <= V8_HASHED_LENGTH) return this.hash.get(key);
    const wrapped = this.findLongKey(key, false);
    return wrapped === undefined ? undefined : this.hash.get(wrapped);
  }

  private setLong(key: string, value: Value): void {
    this.budget.chargeWork(key.length / WORK_COST.bytesPerUnit);
    if (key.length <= V8_HASHED_LENGTH) {
      this.setInHash(key, value);
      return;
    }
    const wrapped = this.findLongKey(key, value !== undefined);
    if (wrapped === undefined) return;
    this.setInHash(wrapped, value);
    if (value === undefined) {
      const bucket = this.longKeys!.get(hashText(key))!;
      bucket.splice(bucket.indexOf(wrapped), 1);
    }
  }

  /** The LongKey standing for `text`, made when missing if `create`. */
  private findLongKey(text: string, create: boolean): LongKey | undefined {
    const hash = hashText(text);
    let bucket = this.longKeys?.get(hash);
    const found = bucket?.find((candidate) => candidate.text === text);
    if (found !== undefined || !create) return found;
    if (bucket === undefined) {
      this.longKeys ??= new Map();
      bucket = [];
      this.longKeys.set(hash, bucket);
    }
    const wrapped = new LongKey(text);
    bucket.push(wrapped);
    return wrapped;
  }

  private setInHash(key: Value | LongKey, value: Value): void {
    let hash = this.hash;
    if (value === undefined) {
      if (hash !== null && hash.delete(key)) this.removed();
      return;
    }
    if (hash === null) hash = this.hash = new Map();
    const before = hash.size;
    hash.set(key, value);
    if (hash.size !== before) this.added();
  }

  private deleteArraySlot(key: number): void {
    const arr = this.arr;
    if (key === arr.length) {
      arr.pop();
      while (arr.length > 0 && arr[arr.length - 1] === HOLE) arr.pop();
    } else {
      arr[key - 1] = HOLE;
    }
    this.removed();
  }

  private added(): void {
    if (this.count === null) this.count = this.budget.track(this);
    this.count.n++;
    if (++this.budget.used > this.budget.max) {
      this.budget.used--;
      this.count.n--;
      this.budget.overflow();
    }
  }

  private removed(): void {
    this.count!.n--;
    this.budget.used--;
  }
}

/**
 * Walks the array part by index, then the hash part with a live Map iterator, so entries
 * changed or deleted during the walk are seen as they are and keys added are visited last.
 */
export class TableIterator {
  key: Value = undefined;
  value: Value = undefined;
  private index = 0;
  private hashIterator: Iterator<[Value | LongKey, Value]> | null = null;

  constructor(private readonly table: KTable) {}

  next(): boolean {
    const table = this.table;
    if (this.hashIterator === null) {
      while (this.index < table.arrayLength) {
        const slot = table.arraySlot(this.index++);
        if (slot !== HOLE && slot !== undefined) {
          this.key = this.index;
          this.value = slot;
          return true;
        }
      }
      const hash = table.hashPart();
      if (hash === null) return false;
      this.hashIterator = hash.entries();
    }
    const step = this.hashIterator.next();
    if (step.done) return false;
    const key = step.value[0];
    this.key = key instanceof LongKey ? key.text : key;
    this.value = step.value[1];
    return true;
  }
}
