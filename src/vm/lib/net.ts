// The net library (SPEC §5.6): IPv4 address text. Reading addresses out of kernel socket
// structures needs kernel memory, so those members only report that (SPEC §8).

import { RuntimeError } from '../errors';
import type { Value } from '../value';
import { low32, numberArgument } from './arguments';
import type { BuiltinDef } from './registry';

/** A member that exists for old scripts but cannot work without kernel memory. */
function unsupported(name: string): BuiltinDef {
  return {
    name,
    library: 'net',
    params: '(sock)',
    doc: 'not supported: reads kernel memory',
    make: () => () => {
      throw new RuntimeError(`net.${name} is not supported`);
    },
  };
}

export const NET_BUILTINS: readonly BuiltinDef[] = [
  {
    name: 'format_ip_addr',
    library: 'net',
    params: '(n)',
    doc: 'dotted IPv4 text of an address in network byte order read as a number',
    make: () => (address: Value) => {
      const bits = low32(numberArgument(address, 1));
      // Network byte order read little-endian: the first octet is the lowest byte.
      return `${bits & 255}.${(bits >>> 8) & 255}.${(bits >>> 16) & 255}.${bits >>> 24}`;
    },
  },
  unsupported('ip_sock_saddr'),
  unsupported('ip_sock_daddr'),
];
