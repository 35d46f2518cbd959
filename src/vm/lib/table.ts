// The table library (SPEC §5.2): table.new. The size hints are checked but unused, as a
// KTable grows on demand.

import type { Value } from '../value';
import { optionalNumberArgument } from './arguments';
import type { BuiltinDef } from './registry';

export const TABLE_BUILTINS: readonly BuiltinDef[] = [
  {
    name: 'new',
    library: 'table',
    params: '([narr [, nrec]])',
    doc: 'a new empty table (the numbers are size hints)',
    make: (rt) => (arraySize: Value, recordSize: Value) => {
      optionalNumberArgument(arraySize, 1);
      optionalNumberArgument(recordSize, 2);
      return rt.newTable();
    },
  },
];
