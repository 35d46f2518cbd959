// The ktap table: an array part for keys 1…n stored in order plus an insertion-ordered
// hash part, iterated in key insertion order (SPEC §3.9) with entries counted against the
// sandbox's table budget.

import { RuntimeError } from './errors';
import type { EntryBudget, EntryCount } from './limits';
import type { Value } from './value';

/**
 * Marks an array slot whose key was deleted. The key, if stored again, goes to the hash
 * part so that it moves to the end of the iteration order as SPEC §3.9 requires.
 */
const HOLE: unique symbol = Symbol('hole');
type Slot = Value | typeof HOLE;

export class KTable {
  /** Values of keys 1…arr.length (or HOLE). Grows only while the hash part has never been used. */
  private arr: Slot[] = [];
  private hash: Map<Value, Value> | null = null;
  private count: EntryCount | null = null;

  constructor(private readonly budget: EntryBudget) {}

  get length(): number {
    return this.count === null ? 0 : this.count.n;
  }

  get(key: Value): Value {
    if (typeof key === 'number' && key >= 1 && key <= this.arr.length && Number.isInteger(key)) {
      const slot = this.arr[key - 1];
      if (slot !== HOLE) return slot;
    }
    return this.hash === null ? undefined : this.hash.get(key);
  }

  set(key: Value, value: Value): void {
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
    }
    this.setInHash(key, value);
  }

  /** Removes every entry (the builtin `delete`). */
  clear(): void {
    if (this.count !== null) {
      this.budget.used -= this.count.n;
      this.count.n = 0;
    }
    this.arr.length = 0;
    if (this.hash !== null) this.hash.clear();
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
  hashPart(): Map<Value, Value> | null {
    return this.hash;
  }

  private setInHash(key: Value, value: Value): void {
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
  private hashIterator: Iterator<[Value, Value]> | null = null;

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
    this.key = step.value[0];
    this.value = step.value[1];
    return true;
  }
}
