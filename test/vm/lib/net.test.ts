// The net library (SPEC §5.6): IPv4 text from a little-endian number, and the members
// that need kernel memory.

import t from 'tap';
import { fromBigInt } from '../../../src/vm/value';
import { fakeRuntime } from './fake-runtime';

t.test('format_ip_addr', async (t) => {
  const { builtin, failure } = fakeRuntime();
  const format = builtin('net.format_ip_addr');
  t.equal(format(0x0100007f), '127.0.0.1');
  t.equal(format(0), '0.0.0.0');
  t.equal(format(0xffffffff), '255.255.255.255');
  t.equal(format(-1), '255.255.255.255', 'negative numbers use their low 32 bits');
  t.equal(format(0x0101a8c0), '192.168.1.1');
  t.equal(format(fromBigInt(0x123456780101a8c0n)), '192.168.1.1', 'high bits are ignored');
  t.equal(format(fromBigInt(-(1n << 63n))), '0.0.0.0');
  t.equal(failure('net.format_ip_addr', '127.0.0.1'), 'wrong type of argument 1');
});

t.test('socket addresses are not supported', async (t) => {
  const { failure } = fakeRuntime();
  t.equal(failure('net.ip_sock_saddr', 0x1000), 'net.ip_sock_saddr is not supported');
  t.equal(failure('net.ip_sock_daddr', 0x1000), 'net.ip_sock_daddr is not supported');
});
