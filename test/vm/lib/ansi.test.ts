// The ansi library (SPEC §5.5): the exact escape sequences and argument checks.

import t from 'tap';
import { fakeRuntime } from './fake-runtime';

t.test('escape sequences', async (t) => {
  const cases: Array<[string, unknown[], string]> = [
    ['ansi.clear_screen', [], '\x1b[1;1H\x1b[J'],
    ['ansi.set_color', [31], '\x1b[31m'],
    ['ansi.set_color2', [32, 40], '\x1b[32;40m'],
    ['ansi.set_color3', [33, 44, 1], '\x1b[33;44;1m'],
    ['ansi.set_color3', [33, 44, 0], '\x1b[33;44m'],
    ['ansi.reset_color', [], '\x1b[0;0m'],
    ['ansi.new_line', [], '\n'],
  ];
  for (const [name, args, expected] of cases) {
    const { builtin, recorded } = fakeRuntime();
    t.equal(builtin(name)(...args), undefined);
    t.equal(recorded.text, expected, `${name}(${args.join(', ')})`);
  }
});

t.test('arguments must be numbers, checked in order, before anything is written', async (t) => {
  const { failure, recorded } = fakeRuntime();
  t.equal(failure('ansi.set_color'), 'wrong type of argument 1');
  t.equal(failure('ansi.set_color', '31'), 'wrong type of argument 1');
  t.equal(failure('ansi.set_color2', 31), 'wrong type of argument 2');
  t.equal(failure('ansi.set_color3', 'x', 'y', 'z'), 'wrong type of argument 1');
  t.equal(failure('ansi.set_color3', 31, 41), 'wrong type of argument 3');
  t.equal(recorded.text, '');
});
