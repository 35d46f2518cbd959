// Keys of kernel tables as user space reads and writes them: the map key layout the
// programs build (integers and booleans as 8 bytes, the comm as 16, probe names by cookie),
// and tuples read back as the very tuples the user tier makes.

import t from 'tap';
import { keyCodec } from '../../src/bpf/kernel-table';
import { tuple } from '../../src/vm/tuple';

t.test('a tuple key: its parts one after another, read back as the interned tuple', async (t) => {
  const codec = keyCodec({ tuple: ['int', 'comm', 'bool', 'name'] }, ['sys_enter_read', 'sys_enter_write']);
  t.equal(codec.size, 40);
  const key = tuple(-5, 'bash', true, 'sys_enter_write');
  const bytes = codec.encode(key)!;
  t.equal(bytes.readBigInt64LE(0), -5n, 'the integer first');
  t.equal(bytes.toString('latin1', 8, 24), 'bash\0\0\0\0\0\0\0\0\0\0\0\0', 'the comm in 16 bytes');
  t.equal(bytes.readBigUInt64LE(24), 1n, 'true as 1');
  t.equal(bytes.readBigUInt64LE(32), 1n, 'the probe by its cookie');
  t.equal(codec.decode(bytes), key, 'the same tuple object, as the user tier would have it');
  const full = Buffer.from(bytes);
  full.write('0123456789abcdef', 8, 'latin1');
  t.equal((codec.decode(full) as ReturnType<typeof tuple>).parts[1], '0123456789abcdef', 'a comm without its NUL stays within its 16 bytes');
});

t.test('keys a tuple table cannot hold', async (t) => {
  const codec = keyCodec({ tuple: ['int', 'comm'] }, []);
  t.equal(codec.encode(tuple(1, 'sh'))?.length, 24);
  t.equal(codec.encode(tuple(1, 'sh', 2)), undefined, 'three parts for two');
  t.equal(codec.encode(tuple('sh', 1)), undefined, 'parts of other kinds');
  t.equal(codec.encode(tuple(1, 'a name of 16 bytes')), undefined, 'a comm is at most 15 bytes');
  t.equal(codec.encode(1), undefined, 'not a tuple');
  t.match(codec.description, 'tuples of numbers, process names of up to 15 bytes');
});

t.test('single keys', async (t) => {
  const ints = keyCodec('int', []);
  t.equal(ints.decode(ints.encode(-9223372036854775808n)!), -9223372036854775808n);
  const bools = keyCodec('bool', []);
  t.equal(bools.decode(bools.encode(false)!), false);
  t.equal(keyCodec('name', ['a']).encode('b'), undefined, 'a probe not traced');
});
