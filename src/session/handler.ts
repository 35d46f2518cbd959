// A registered trace, tick or profile handler: the one type the session, its kernel events,
// the dry run and the faces share.

import type { EventSpec, HeaderKind } from '../syntax/headers';
import type { HandlerBody } from '../vm/runtime';
import type { KFunction } from '../vm/value';

export interface Handler {
  /** Its number in the session (`.probes`, `.detach`, run counts). */
  readonly id: number;
  readonly kind: HeaderKind;
  /** The header as written: `syscalls:sys_enter_*`, `tick-1s`, `profile-99`. */
  readonly header: string;
  /** The header parsed: what the probe-source table attaches. */
  readonly spec: EventSpec;
  readonly fn: KFunction;
  /** N of the user_string(argN) calls in the handler: fetched as strings by uprobes, captured by BPF. */
  readonly userStrings: readonly number[];
  /** NAME of the user_string(args.NAME) calls in the handler: the same, by field name. */
  readonly userStringFields: readonly string[];
  /** N of the join(argN) calls in the handler: `char **` arrays captured by BPF. */
  readonly argvs: readonly number[];
  /** NAME of the join(args.NAME) calls in the handler: the same, by field name. */
  readonly argvFields: readonly string[];
  /** Its bytecode and captured variables (when REGISTER made it): what the kernel tier compiles. */
  readonly body?: HandlerBody;
  /** Fields the handler reads as args.NAME: each must exist in at least one of its events. */
  readonly fields: readonly string[];
}
