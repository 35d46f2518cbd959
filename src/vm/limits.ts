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

export function budgetExceeded(budget: number, key: 'maxInstructions' | 'maxEventInstructions'): RuntimeError {
  return new RuntimeError(`loop execute count exceed max limit(${budget})`, limitHint(key, budget));
}

/** One count per table, shared with the finalization registry so a collected table gives its entries back. */
export class EntryCount {
  n = 0;
}

/**
 * The total number of table entries alive. Tables add and remove entries here; a table
 * that is garbage-collected returns its entries, so temporary tables made in handlers do
 * not use the budget up forever.
 */
export class EntryBudget {
  used = 0;
  max: number;
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
  overflow(): never {
    throw new RuntimeError('table overflow', limitHint('maxTableEntries', this.maxEntries));
  }
}
