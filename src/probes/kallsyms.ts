// Kernel addresses → symbols from /proc/kallsyms (root sees real addresses), for %p,
// ipof() and argstr. Loaded once, on first use, into sorted arrays searched by bisection.

import { readFileSync } from 'node:fs';

export interface KernelSymbol {
  readonly name: string;
  readonly offset: bigint;
  /** Distance to the next symbol: the `/0xSIZE` of `SYM+0xOFF/0xSIZE`. */
  readonly size: bigint;
  /** Module name for symbols of loadable modules. */
  readonly module: string | undefined;
}

export class KernelSymbols {
  private constructor(
    private readonly addresses: BigUint64Array,
    private readonly names: string[],
    private readonly modules: Array<string | undefined>,
  ) {}

  /** Parses kallsyms text (`ADDRESS TYPE NAME [MODULE]` lines); text symbols only. */
  static parse(text: string): KernelSymbols {
    const entries: Array<[bigint, string, string | undefined]> = [];
    for (const line of text.split('\n')) {
      const parts = line.split(/\s+/);
      if (parts.length < 3 || !/^[tTwW]$/.test(parts[1]!)) continue;
      const address = BigInt('0x' + parts[0]);
      if (address === 0n) continue; // addresses hidden (kptr_restrict): nothing to map
      entries.push([address, parts[2]!, parts[3]?.replace(/^\[|\]$/g, '')]);
    }
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return new KernelSymbols(
      BigUint64Array.from(entries.map((entry) => entry[0])),
      entries.map((entry) => entry[1]),
      entries.map((entry) => entry[2]),
    );
  }

  static load(path = '/proc/kallsyms'): KernelSymbols {
    try {
      return KernelSymbols.parse(readFileSync(path, 'latin1'));
    } catch {
      return KernelSymbols.parse('');
    }
  }

  /** The symbol containing `address`, or undefined outside every known symbol. */
  lookup(address: bigint): KernelSymbol | undefined {
    const addresses = this.addresses;
    let low = 0;
    let high = addresses.length - 1;
    if (high < 0 || address < addresses[0]!) return undefined;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (addresses[middle]! <= address) low = middle;
      else high = middle - 1;
    }
    const start = addresses[low]!;
    const next = low + 1 < addresses.length ? addresses[low + 1]! : start;
    if (next === start && address !== start) return undefined;
    return { name: this.names[low]!, offset: address - start, size: next - start, module: this.modules[low] };
  }

  /** Symbol name without offset (for %p and ipof), or undefined. */
  name(address: bigint): string | undefined {
    return this.lookup(address)?.name;
  }
}
