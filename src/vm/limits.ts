// Sandbox limits (SPEC-product §6): their defaults, the options that change them, and the
// accounting of table entries across all tables.

import { RuntimeError } from './errors';

export interface Limits {
  /** Instruction budget of a main-thread run (main chunk, trace_end); 0 = unlimited. */
  maxInstructions: number;
  /** Instruction budget of a handler run (event, tick); 0 = unlimited. */
  maxEventInstructions: number;
  /** Call depth; 0 = unlimited (then only the JS stack bounds it). */
  maxDepth: number;
  /** Total entries in all tables; 0 = unlimited. */
  maxTableEntries: number;
  /** Longest string in bytes; 0 = unlimited (JS's own string limit still applies). */
  maxString: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxInstructions: 10_000_000,
  maxEventInstructions: 1_000_000,
  maxDepth: 200,
  maxTableEntries: 1_000_000,
  maxString: 1024 * 1024,
};

/** Command-line option of each limit, for the CLI and its help text. */
export const LIMIT_OPTIONS: ReadonlyArray<{ option: string; key: keyof Limits; doc: string }> = [
  { option: '--max-instructions', key: 'maxInstructions', doc: 'instructions per main-chunk or trace_end run' },
  { option: '--max-event-instructions', key: 'maxEventInstructions', doc: 'instructions per handler run' },
  { option: '--max-depth', key: 'maxDepth', doc: 'call depth' },
  { option: '--max-table-entries', key: 'maxTableEntries', doc: 'entries in all tables together' },
  { option: '--max-string', key: 'maxString', doc: 'string length in bytes' },
];

/** Effective bound: 0 (unlimited) becomes Infinity so hot-path checks are one comparison. */
export function effectiveLimit(value: number): number {
  return value > 0 ? value : Infinity;
}

/** `--max-string 1048576`: the option of a limit and its value, for a limit error's hint. */
export function limitHint(key: keyof Limits, value: number): string {
  return `${LIMIT_OPTIONS.find((option) => option.key === key)!.option} ${value}`;
}

/**
 * What work inside builtins and host calls costs, in instructions of the budget, so that
 * no run outlasts its budget's time by more than a small factor (docs/limits.md): a unit
 * is about what one instruction costs. Charged before the work is done.
 */
export const WORK_COST = {
  /** Each entry a builtin walks (print_hist, print_folded): a read and a heap step. */
  tableEntry: 2,
  /** Each row or line a builtin formats (print_hist rows, print_folded lines). */
  formattedRow: 32,
  /** Bytes written, copied or hashed per unit (output text, long table keys). */
  bytesPerUnit: 16,
  /** A read of another process's memory or of /proc (user_string, stacks). */
  systemCall: 2000,
} as const;

/** String keys longer than this are charged for their bytes at each table access. */
export const CHARGED_KEY_LENGTH = 256;

export function budgetExceeded(budget: number, key: 'maxInstructions' | 'maxEventInstructions'): RuntimeError {
  return new RuntimeError(`loop execute count exceed max limit(${budget})`, limitHint(key, budget));
}

/** One count per table, shared with the finalization registry so a collected table gives its entries back. */
export class EntryCount {
  n = 0;
}

/** What the budget needs of a table to give back its entries when it dies. */
export interface Releasable {
  /** References from cells and from other tables' keys and values. */
  refs: number;
  /** Gives the table's entries back and drops its references to other tables. */
  release(): void;
}

/**
 * The total number of table entries alive, counted exactly: a table made during a run is
 * referenced from registers (which die with the run), from cells and from other tables.
 * Cells and tables count their references; a table left with none when the run ends is
 * dead and gives its entries back at once (deferred reference counting). Tables in cycles
 * are given back when garbage-collected, through a finalization registry.
 */
export class EntryBudget {
  used = 0;
  max: number;
  /** Charges work to the instruction budget of the run in progress (set by the runtime). */
  chargeWork: (units: number) => void = () => {};
  /** Whether a run is in progress; tables made outside runs (libraries, `arg`) are pinned. */
  collecting = false;
  /** Tables made in this run, or left without references during it: examined when it ends. */
  private readonly unreferenced: Releasable[] = [];
  private readonly registry = new FinalizationRegistry<EntryCount>((count) => {
    this.used -= count.n;
  });
  constructor(private readonly maxEntries: number) {
    this.max = effectiveLimit(maxEntries);
  }
  /** A fresh per-table count, registered so the entries are returned when `owner` is collected. */
  track(owner: object): EntryCount {
    const count = new EntryCount();
    this.registry.register(owner, count);
    return count;
  }
  /** A table just made: pinned (one reference that never goes) unless a run may drop it. */
  born(table: Releasable): void {
    if (this.collecting) this.unreferenced.push(table);
    else table.refs = 1;
  }
  /** One reference to `table` is gone. */
  unref(table: Releasable): void {
    if (--table.refs === 0) this.unreferenced.push(table);
  }
  /** At the end of a run: every table still without references is dead (its registers are gone). */
  collect(): void {
    const pending = this.unreferenced;
    while (pending.length > 0) {
      const table = pending.pop()!;
      if (table.refs === 0) table.release();
    }
  }
  overflow(): never {
    throw new RuntimeError('table overflow', limitHint('maxTableEntries', this.maxEntries));
  }
}
