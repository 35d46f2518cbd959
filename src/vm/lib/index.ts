// THE builtin registry: every library's definitions in one list, which feeds the VM's
// globals, the compiler's readable global names, --help and REPL completion.

import type { Runtime } from '../runtime';
import { KTable } from '../table';
import { EntryBudget } from '../limits';
import { markBuiltin, type Value } from '../value';
import { ANSI_BUILTINS } from './ansi';
import { BASE_BUILTINS } from './base';
import { BUCKET_BUILTINS } from './buckets';
import { HIST_BUILTINS } from './hist';
import { KDEBUG_BUILTINS } from './kdebug';
import { NET_BUILTINS } from './net';
import { NUMERIC_BUILTINS } from './numeric';
import { STRING_BUILTINS } from './string';
import { LIBRARY_NAMES, type BuiltinDef } from './registry';
import { TABLE_BUILTINS } from './table';
import { TIME_BUILTINS } from './time';
import { TIMER_BUILTINS } from './timer';

export const BUILTINS: readonly BuiltinDef[] = [
  ...BASE_BUILTINS,
  ...HIST_BUILTINS,
  ...NUMERIC_BUILTINS,
  ...BUCKET_BUILTINS,
  ...STRING_BUILTINS,
  ...TIME_BUILTINS,
  ...TABLE_BUILTINS,
  ...ANSI_BUILTINS,
  ...TIMER_BUILTINS,
  ...KDEBUG_BUILTINS,
  ...NET_BUILTINS,
];

/** Names a script may read as globals (SPEC §2.3): functions, library tables and `arg`. */
export const GLOBAL_NAMES: ReadonlySet<string> = new Set([
  ...BUILTINS.filter((def) => def.library === undefined).map((def) => def.name),
  ...LIBRARY_NAMES,
  'arg',
]);

/** The names of the builtins that need `capture` at the event (BuiltinDef.captures). */
export function capturingBuiltins(capture: NonNullable<BuiltinDef['captures']>): string[] {
  return BUILTINS.filter((def) => def.captures === capture).map((def) => def.name);
}

/**
 * The globals of one runtime: each builtin function (marked so print shows `cfunction`),
 * one table per library holding its members, and the session's `arg` table.
 */
export function makeGlobals(rt: Runtime, arg: KTable): Map<string, Value> {
  const globals = new Map<string, Value>();
  // The libraries are ktap's, not the script's: their entries are not charged to --max-table-entries.
  for (const name of LIBRARY_NAMES) globals.set(name, new KTable(new EntryBudget(0)));
  for (const def of BUILTINS) {
    const fn = markBuiltin(def.make(rt));
    if (def.library === undefined) globals.set(def.name, fn);
    else (globals.get(def.library) as KTable).set(def.name, fn);
  }
  globals.set('arg', arg);
  return globals;
}
