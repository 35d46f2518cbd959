// The timer library (SPEC §5.6): function forms of `tick-N` and `profile-N`, their
// intervals checked by the one interval parser (src/syntax/headers.ts).

import { parseInterval } from '../../syntax/headers';
import { RuntimeError } from '../errors';
import { printable } from '../quote';
import { handlerRegistrar } from './kdebug';
import type { BuiltinDef } from './registry';

/** `timer.tick`/`timer.profile`: the header `KIND-INTERVAL`, once the interval parses. */
function timerRegistrar(kind: 'tick' | 'profile', doc: string): BuiltinDef {
  return handlerRegistrar({ library: 'timer', name: kind, params: '(interval, f)', doc, kind }, (interval) => {
    if (parseInterval(interval) === undefined) throw new RuntimeError(`cannot parse timer interval: ${printable(String(interval))}`);
    return `${kind}-${interval}`;
  });
}

export const TIMER_BUILTINS: readonly BuiltinDef[] = [
  timerRegistrar('tick', 'run f once per interval ("250ms", "1s", …), like tick-N'),
  timerRegistrar('profile', 'run f about once per interval on each busy CPU, like profile-N'),
];
