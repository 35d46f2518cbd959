// The kdebug library (SPEC §5.6): function forms of `trace` and `trace_end`, registered
// through the same checks (SPEC §3.10) as the statements.

import { RuntimeError } from '../errors';
import { HANDLER_KINDS, type HandlerKind } from '../opcodes';
import type { Value } from '../value';
import { functionArgument, stringArgument } from './arguments';
import type { BuiltinDef, LibraryName } from './registry';

/** What a registering member is: where it lives, its help, and the handler kind it adds. */
interface Registrar {
  library: LibraryName;
  name: string;
  params: string;
  doc: string;
  kind: HandlerKind;
}

/**
 * A member `(text, f)` registering `f` as a handler of `kind` under the header made from
 * `text`, which may reject it with a RuntimeError. Shared with the timer library.
 */
export function handlerRegistrar(registrar: Registrar, header: (text: string) => string): BuiltinDef {
  const kindIndex = HANDLER_KINDS.indexOf(registrar.kind);
  return {
    name: registrar.name,
    library: registrar.library,
    params: registrar.params,
    doc: registrar.doc,
    make: (rt) => (text: Value, handler: Value) => {
      const checkedText = stringArgument(text, 1);
      const checkedHandler = functionArgument(handler, 2);
      rt.register(kindIndex, header(checkedText), checkedHandler, { registrar: `${registrar.library}.${registrar.name}` });
      return undefined;
    },
  };
}

export const KDEBUG_BUILTINS: readonly BuiltinDef[] = [
  {
    name: 'trace_end',
    library: 'kdebug',
    params: '(f)',
    doc: 'register f as a trace_end handler',
    make: (rt) => (handler: Value) => {
      rt.register(HANDLER_KINDS.indexOf('trace_end'), 'trace_end', functionArgument(handler, 1));
      return undefined;
    },
  },
  handlerRegistrar(
    { library: 'kdebug', name: 'kprobe', params: '(symbol, f)', doc: 'same as trace probe:SYMBOL with handler f', kind: 'trace' },
    (symbol) => `probe:${symbol}`,
  ),
  handlerRegistrar(
    {
      library: 'kdebug', name: 'tracepoint', params: '(name, f)', kind: 'trace',
      doc: 'attach f to the tracepoints matching a glob, in any system unless SYSTEM: is given',
    },
    (name) => (name.includes(':') ? name : `*:${name}`),
  ),
  {
    name: 'trace_by_id',
    library: 'kdebug',
    params: '(...)',
    doc: 'not supported: ktap\'s internal form of trace',
    make: () => () => {
      throw new RuntimeError('kdebug.trace_by_id is not supported, use trace');
    },
  },
];
