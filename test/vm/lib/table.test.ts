// table.new (SPEC §5.2): a fresh empty table; the size hints are only checked.

import t from 'tap';
import { KTable } from '../../../src/vm/table';
import { fakeRuntime } from './fake-runtime';

t.test('table.new', async (t) => {
  const { builtin, failure } = fakeRuntime();
  const make = builtin('table.new');
  const first = make();
  const second = make(100, 10);
  t.ok(first instanceof KTable && second instanceof KTable);
  t.not(first, second);
  t.equal((second as KTable).length, 0);
  t.equal(failure('table.new', 'x'), 'wrong type of argument 1');
  t.equal(failure('table.new', 1, true), 'wrong type of argument 2');
});
