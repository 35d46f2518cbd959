// printf (SPEC §5.1): every example and error of the specification, C's rules for flags,
// width and precision (checked against glibc), and exact 64-bit values.

import t from 'tap';
import { formatString } from '../../../src/vm/lib/format';
import { fromBigInt, type Value } from '../../../src/vm/value';
import { fakeRuntime } from './fake-runtime';

function printf(...args: Value[]): string {
  const { builtin, recorded } = fakeRuntime();
  builtin('printf')(...args);
  return recorded.text;
}

t.test('the examples of SPEC §5.1', async (t) => {
  t.equal(printf('%5d|%-5d|%05d\n', 42, 42, 42), '   42|42   |00042\n');
  t.equal(printf('%x %X %o %u\n', 255, 255, 8, -1), 'ff FF 10 18446744073709551615\n');
  t.equal(printf('[%6s][%-6s][%.2s]\n', 'ab', 'ab', 'abcdef'), '[    ab][ab    ][ab]\n');
  t.equal(printf('%s and %s\n', undefined, 7), 'nil and 7\n');
  t.equal(fakeRuntime().failure('printf', '%d\n'), 'bad argument #2: (no value)');
  t.equal(printf('%d ', 1), '1 ');
  t.equal(printf('%s=%d ', 'b', 1), 'b=1 ');
  t.equal(printf('no conversions, 100%% sure'), 'no conversions, 100% sure');
});

t.test('errors', async (t) => {
  const { failure } = fakeRuntime();
  t.equal(failure('printf', '%d %d', 1), 'bad argument #3: (no value)');
  t.equal(failure('printf', '%s'), 'bad argument #2: (no value)');
  t.equal(failure('printf', '100%'), "invalid option '%' to 'format'", 'the conversion is checked before its argument');
  t.equal(failure('printf', '%y'), "invalid option '%y' to 'format'");
  t.equal(failure('printf', '%y', 1), "invalid option '%y' to 'format'");
  t.equal(failure('printf', '%', 1), "invalid option '%' to 'format'", 'C is empty at the end');
  t.equal(failure('printf', '%5%', 1), "invalid option '%%' to 'format'");
  t.equal(failure('printf', '%f', 1), "invalid option '%f' to 'format'");
  t.equal(failure('printf', '%lh', 1), "invalid option '%h' to 'format'", 'one length modifier only');
  t.equal(failure('printf', '%-+ #0-d', 1), 'invalid format (repeated flags)');
  t.equal(failure('printf', '%------d', 1), 'invalid format (repeated flags)');
  t.equal(failure('printf', '%123d', 1), 'invalid format (width or precision too long)');
  t.equal(failure('printf', '%1.123d', 1), 'invalid format (width or precision too long)');
  t.equal(failure('printf', '%d', 'x'), 'wrong type of argument 2');
  t.equal(failure('printf', '%s %x', 'a', true), 'wrong type of argument 3');
  for (const conversion of 'diuxXocp') {
    t.equal(failure('printf', `%${conversion}`, undefined), 'wrong type of argument 2', `%${conversion} of nil`);
  }
  t.equal(failure('printf', 42), 'wrong type of argument 1');
  t.equal(failure('printf'), 'wrong type of argument 1');
});

t.test('flags, width, precision and length modifiers', async (t) => {
  t.equal(printf('%-+ #0d', 5), '+5', 'five flags are allowed');
  t.equal(printf('%99d|', 1), ' '.repeat(98) + '1|');
  t.equal(printf('%.d|%.s|', 0, 'abc'), '||', 'an empty precision is zero');
  t.equal(printf('%ld %lld %hd %hhd %zu %jd %tx %lx', 1, 2, 3, 4, 5, 6, 255, 255), '1 2 3 4 5 6 ff ff');
  t.equal(printf('%05s|%-4c|%3c|%05c', 'ab', 65, 66, 67), '   ab|A   |  B|    C', 'strings pad with spaces');
  t.equal(printf('%5.1s|', 'xyz'), '    x|');
});

t.test('%c, %p and %s', async (t) => {
  t.equal(printf('%c%c%c', 72, 0x169, -191), 'HiA', 'the low 8 bits');
  t.equal(printf('%c', 0), '\0');
  t.equal(printf('%c', fromBigInt(0x7fffffffffffff41n)), 'A');
  t.equal(printf('%s', '\xff\x00\x80'), '\xff\x00\x80', 'byte strings pass through');
  t.equal(printf('%s %s %s', true, false, fromBigInt(-(1n << 63n))), 'true false -9223372036854775808');
  t.match(printf('%s', fakeRuntime().rt.newTable()), /^table 0x[0-9a-f]+$/);
  const { builtin, recorded } = fakeRuntime();
  builtin('printf')('%s', builtin('print'));
  t.match(recorded.text, /^cfunction 0x[0-9a-f]+$/);

  const symbols = new Map([[0xffffffff81234560n, 'vfs_read']]);
  const { rt } = fakeRuntime({ symbols });
  t.equal(formatString(rt, '%p', [fromBigInt(0xffffffff81234560n)]), 'vfs_read');
  t.equal(formatString(rt, '%p', [4096]), '0x1000');
  t.equal(formatString(rt, '%p', [-1]), '0xffffffffffffffff');
  t.equal(formatString(rt, '[%12p][%-6p]', [fromBigInt(0xffffffff81234560n), 16]), '[    vfs_read][0x10  ]');
});

t.test('64-bit values', async (t) => {
  const max = fromBigInt((1n << 63n) - 1n);
  const min = fromBigInt(-(1n << 63n));
  t.equal(printf('%d %i', max, min), '9223372036854775807 -9223372036854775808');
  t.equal(printf('%u %x %o', min, min, min), '9223372036854775808 8000000000000000 1000000000000000000000');
  t.equal(printf('%x %X', fromBigInt(-0x123456789abcdefn), -2), 'fedcba9876543211 FFFFFFFFFFFFFFFE');
  t.equal(printf('%d', 9007199254740993n), '9007199254740993', 'beyond 2^53 stays exact');
  t.equal(printf('%u', -9007199254740991), '18437736874454810625');
});

// Expected outputs produced by glibc's snprintf with the same flags and an `ll` modifier.
const GLIBC: ReadonlyArray<[string, string, string]> = [
  ['%d', '0', '0'],
  ['%d', '42', '42'],
  ['%d', '-42', '-42'],
  ['%d', '255', '255'],
  ['%d', '-1', '-1'],
  ['%d', '9223372036854775807', '9223372036854775807'],
  ['%d', '-9223372036854775808', '-9223372036854775808'],
  ['%5d', '0', '    0'],
  ['%5d', '42', '   42'],
  ['%5d', '-42', '  -42'],
  ['%5d', '255', '  255'],
  ['%5d', '-1', '   -1'],
  ['%5d', '9223372036854775807', '9223372036854775807'],
  ['%5d', '-9223372036854775808', '-9223372036854775808'],
  ['%-5d', '0', '0    '],
  ['%-5d', '42', '42   '],
  ['%-5d', '-42', '-42  '],
  ['%-5d', '255', '255  '],
  ['%-5d', '-1', '-1   '],
  ['%-5d', '9223372036854775807', '9223372036854775807'],
  ['%-5d', '-9223372036854775808', '-9223372036854775808'],
  ['%05d', '0', '00000'],
  ['%05d', '42', '00042'],
  ['%05d', '-42', '-0042'],
  ['%05d', '255', '00255'],
  ['%05d', '-1', '-0001'],
  ['%05d', '9223372036854775807', '9223372036854775807'],
  ['%05d', '-9223372036854775808', '-9223372036854775808'],
  ['%+d', '0', '+0'],
  ['%+d', '42', '+42'],
  ['%+d', '-42', '-42'],
  ['%+d', '255', '+255'],
  ['%+d', '-1', '-1'],
  ['%+d', '9223372036854775807', '+9223372036854775807'],
  ['%+d', '-9223372036854775808', '-9223372036854775808'],
  ['% d', '0', ' 0'],
  ['% d', '42', ' 42'],
  ['% d', '-42', '-42'],
  ['% d', '255', ' 255'],
  ['% d', '-1', '-1'],
  ['% d', '9223372036854775807', ' 9223372036854775807'],
  ['% d', '-9223372036854775808', '-9223372036854775808'],
  ['%+05d', '0', '+0000'],
  ['%+05d', '42', '+0042'],
  ['%+05d', '-42', '-0042'],
  ['%+05d', '255', '+0255'],
  ['%+05d', '-1', '-0001'],
  ['%+05d', '9223372036854775807', '+9223372036854775807'],
  ['%+05d', '-9223372036854775808', '-9223372036854775808'],
  ['%.3d', '0', '000'],
  ['%.3d', '42', '042'],
  ['%.3d', '-42', '-042'],
  ['%.3d', '255', '255'],
  ['%.3d', '-1', '-001'],
  ['%.3d', '9223372036854775807', '9223372036854775807'],
  ['%.3d', '-9223372036854775808', '-9223372036854775808'],
  ['%8.3d', '0', '     000'],
  ['%8.3d', '42', '     042'],
  ['%8.3d', '-42', '    -042'],
  ['%8.3d', '255', '     255'],
  ['%8.3d', '-1', '    -001'],
  ['%8.3d', '9223372036854775807', '9223372036854775807'],
  ['%8.3d', '-9223372036854775808', '-9223372036854775808'],
  ['%-8.3d', '0', '000     '],
  ['%-8.3d', '42', '042     '],
  ['%-8.3d', '-42', '-042    '],
  ['%-8.3d', '255', '255     '],
  ['%-8.3d', '-1', '-001    '],
  ['%-8.3d', '9223372036854775807', '9223372036854775807'],
  ['%-8.3d', '-9223372036854775808', '-9223372036854775808'],
  ['%08.3d', '0', '     000'],
  ['%08.3d', '42', '     042'],
  ['%08.3d', '-42', '    -042'],
  ['%08.3d', '255', '     255'],
  ['%08.3d', '-1', '    -001'],
  ['%08.3d', '9223372036854775807', '9223372036854775807'],
  ['%08.3d', '-9223372036854775808', '-9223372036854775808'],
  ['%.0d', '0', ''],
  ['%.0d', '42', '42'],
  ['%.0d', '-42', '-42'],
  ['%.0d', '255', '255'],
  ['%.0d', '-1', '-1'],
  ['%.0d', '9223372036854775807', '9223372036854775807'],
  ['%.0d', '-9223372036854775808', '-9223372036854775808'],
  ['%5.0d', '0', '     '],
  ['%5.0d', '42', '   42'],
  ['%5.0d', '-42', '  -42'],
  ['%5.0d', '255', '  255'],
  ['%5.0d', '-1', '   -1'],
  ['%5.0d', '9223372036854775807', '9223372036854775807'],
  ['%5.0d', '-9223372036854775808', '-9223372036854775808'],
  ['%+.0d', '0', '+'],
  ['%+.0d', '42', '+42'],
  ['%+.0d', '-42', '-42'],
  ['%+.0d', '255', '+255'],
  ['%+.0d', '-1', '-1'],
  ['%+.0d', '9223372036854775807', '+9223372036854775807'],
  ['%+.0d', '-9223372036854775808', '-9223372036854775808'],
  ['%#o', '0', '0'],
  ['%#o', '42', '052'],
  ['%#o', '-42', '01777777777777777777726'],
  ['%#o', '255', '0377'],
  ['%#o', '-1', '01777777777777777777777'],
  ['%#o', '9223372036854775807', '0777777777777777777777'],
  ['%#o', '-9223372036854775808', '01000000000000000000000'],
  ['%#.0o', '0', '0'],
  ['%#.0o', '42', '052'],
  ['%#.0o', '-42', '01777777777777777777726'],
  ['%#.0o', '255', '0377'],
  ['%#.0o', '-1', '01777777777777777777777'],
  ['%#.0o', '9223372036854775807', '0777777777777777777777'],
  ['%#.0o', '-9223372036854775808', '01000000000000000000000'],
  ['%#5o', '0', '    0'],
  ['%#5o', '42', '  052'],
  ['%#5o', '-42', '01777777777777777777726'],
  ['%#5o', '255', ' 0377'],
  ['%#5o', '-1', '01777777777777777777777'],
  ['%#5o', '9223372036854775807', '0777777777777777777777'],
  ['%#5o', '-9223372036854775808', '01000000000000000000000'],
  ['%#x', '0', '0'],
  ['%#x', '42', '0x2a'],
  ['%#x', '-42', '0xffffffffffffffd6'],
  ['%#x', '255', '0xff'],
  ['%#x', '-1', '0xffffffffffffffff'],
  ['%#x', '9223372036854775807', '0x7fffffffffffffff'],
  ['%#x', '-9223372036854775808', '0x8000000000000000'],
  ['%#X', '0', '0'],
  ['%#X', '42', '0X2A'],
  ['%#X', '-42', '0XFFFFFFFFFFFFFFD6'],
  ['%#X', '255', '0XFF'],
  ['%#X', '-1', '0XFFFFFFFFFFFFFFFF'],
  ['%#X', '9223372036854775807', '0X7FFFFFFFFFFFFFFF'],
  ['%#X', '-9223372036854775808', '0X8000000000000000'],
  ['%#08x', '0', '00000000'],
  ['%#08x', '42', '0x00002a'],
  ['%#08x', '-42', '0xffffffffffffffd6'],
  ['%#08x', '255', '0x0000ff'],
  ['%#08x', '-1', '0xffffffffffffffff'],
  ['%#08x', '9223372036854775807', '0x7fffffffffffffff'],
  ['%#08x', '-9223372036854775808', '0x8000000000000000'],
  ['%#.4x', '0', '0000'],
  ['%#.4x', '42', '0x002a'],
  ['%#.4x', '-42', '0xffffffffffffffd6'],
  ['%#.4x', '255', '0x00ff'],
  ['%#.4x', '-1', '0xffffffffffffffff'],
  ['%#.4x', '9223372036854775807', '0x7fffffffffffffff'],
  ['%#.4x', '-9223372036854775808', '0x8000000000000000'],
  ['%x', '0', '0'],
  ['%x', '42', '2a'],
  ['%x', '-42', 'ffffffffffffffd6'],
  ['%x', '255', 'ff'],
  ['%x', '-1', 'ffffffffffffffff'],
  ['%x', '9223372036854775807', '7fffffffffffffff'],
  ['%x', '-9223372036854775808', '8000000000000000'],
  ['%o', '0', '0'],
  ['%o', '42', '52'],
  ['%o', '-42', '1777777777777777777726'],
  ['%o', '255', '377'],
  ['%o', '-1', '1777777777777777777777'],
  ['%o', '9223372036854775807', '777777777777777777777'],
  ['%o', '-9223372036854775808', '1000000000000000000000'],
  ['%u', '0', '0'],
  ['%u', '42', '42'],
  ['%u', '-42', '18446744073709551574'],
  ['%u', '255', '255'],
  ['%u', '-1', '18446744073709551615'],
  ['%u', '9223372036854775807', '9223372036854775807'],
  ['%u', '-9223372036854775808', '9223372036854775808'],
  ['%+u', '0', '0'],
  ['%+u', '42', '42'],
  ['%+u', '-42', '18446744073709551574'],
  ['%+u', '255', '255'],
  ['%+u', '-1', '18446744073709551615'],
  ['%+u', '9223372036854775807', '9223372036854775807'],
  ['%+u', '-9223372036854775808', '9223372036854775808'],
  ['% x', '0', '0'],
  ['% x', '42', '2a'],
  ['% x', '-42', 'ffffffffffffffd6'],
  ['% x', '255', 'ff'],
  ['% x', '-1', 'ffffffffffffffff'],
  ['% x', '9223372036854775807', '7fffffffffffffff'],
  ['% x', '-9223372036854775808', '8000000000000000'],
  ['%-+6d', '0', '+0    '],
  ['%-+6d', '42', '+42   '],
  ['%-+6d', '-42', '-42   '],
  ['%-+6d', '255', '+255  '],
  ['%-+6d', '-1', '-1    '],
  ['%-+6d', '9223372036854775807', '+9223372036854775807'],
  ['%-+6d', '-9223372036854775808', '-9223372036854775808'],
  ['% 05d', '0', ' 0000'],
  ['% 05d', '42', ' 0042'],
  ['% 05d', '-42', '-0042'],
  ['% 05d', '255', ' 0255'],
  ['% 05d', '-1', '-0001'],
  ['% 05d', '9223372036854775807', ' 9223372036854775807'],
  ['% 05d', '-9223372036854775808', '-9223372036854775808'],
  ['%0-5d', '0', '0    '],
  ['%0-5d', '42', '42   '],
  ['%0-5d', '-42', '-42  '],
  ['%0-5d', '255', '255  '],
  ['%0-5d', '-1', '-1   '],
  ['%0-5d', '9223372036854775807', '9223372036854775807'],
  ['%0-5d', '-9223372036854775808', '-9223372036854775808'],
];

t.test('integer conversions agree with C', async (t) => {
  const { rt } = fakeRuntime();
  for (const [format, value, expected] of GLIBC) {
    t.equal(formatString(rt, format, [fromBigInt(BigInt(value))]), expected, `${format} of ${value}`);
  }
});
