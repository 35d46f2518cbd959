// User-space addresses → `SYM+0xOFF (FILE)` (SPEC §5.4 ustack): a process's mappings from
// /proc/PID/maps and the function symbols of each mapped ELF file, both cached.

import { readFileSync, statSync } from 'node:fs';
import { ElfFile, onePerAddress, type ElfSymbol } from './elf';

interface Mapping {
  readonly start: bigint;
  readonly end: bigint;
  /** File offset of the mapping's start. */
  readonly offset: bigint;
  readonly path: string;
}

/** A file's function symbols sorted by address, one name per address (the one a probe on it takes), with what turns a file offset into an address. */
interface FileSymbols {
  readonly symbols: readonly ElfSymbol[];
  readonly elf: ElfFile | null;
}

export class UserSymbolizer {
  private readonly maps = new Map<number, Mapping[]>();
  /** Keyed by path, device, inode and mtime so a replaced file is read again. */
  private readonly files = new Map<string, FileSymbols>();

  /** Forgets a process's mappings (it exec'd or mapped more). */
  forget(tgid: number): void {
    this.maps.delete(tgid);
  }

  /** One frame of process `tgid`: `SYM+0xOFF (FILE)`, `0xADDR (FILE)` or `0xADDR`. */
  frame(tgid: number, address: bigint): string {
    let mapping = this.mapping(tgid, address);
    if (mapping === undefined && this.maps.has(tgid)) {
      // Mapped since the maps were read (a library loaded later): read them again, once.
      this.maps.delete(tgid);
      mapping = this.mapping(tgid, address);
    }
    const hex = `0x${address.toString(16)}`;
    if (mapping === undefined) return hex;
    const symbol = this.symbolAt(mapping, address);
    return symbol === undefined ? `${hex} (${mapping.path})` : `${symbol} (${mapping.path})`;
  }

  private mapping(tgid: number, address: bigint): Mapping | undefined {
    let mappings = this.maps.get(tgid);
    if (mappings === undefined) {
      mappings = readMaps(tgid);
      this.maps.set(tgid, mappings);
    }
    return mappings.find((mapping) => address >= mapping.start && address < mapping.end);
  }

  private symbolAt(mapping: Mapping, address: bigint): string | undefined {
    const file = this.fileSymbols(mapping.path);
    if (file.elf === null) return undefined;
    // Runtime address → file offset → the link-time address symbols use.
    const fileOffset = address - mapping.start + mapping.offset;
    const linkAddress = file.elf.fileOffsetToAddress(fileOffset);
    if (linkAddress === undefined) return undefined;
    const symbols = file.symbols;
    let low = 0;
    let high = symbols.length - 1;
    let best = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (symbols[middle]!.address <= linkAddress) {
        best = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    if (best < 0) return undefined;
    const symbol = symbols[best]!;
    const offset = linkAddress - symbol.address;
    if (symbol.size > 0n && offset >= symbol.size) return undefined;
    return `${symbol.name}+0x${offset.toString(16)}`;
  }

  private fileSymbols(path: string): FileSymbols {
    let key = path;
    try {
      const stat = statSync(path);
      key = `${path}\0${stat.dev}:${stat.ino}:${stat.mtimeMs}`;
    } catch {
      // a deleted file: only its path is left to key on
    }
    let file = this.files.get(key);
    if (file === undefined) {
      try {
        const elf = ElfFile.open(path);
        file = { elf, symbols: onePerAddress(elf.symbols()) };
      } catch {
        file = { elf: null, symbols: [] };
      }
      this.files.set(key, file);
    }
    return file;
  }
}

/** File-backed executable mappings of a process; empty when it is gone. */
function readMaps(tgid: number): Mapping[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${tgid}/maps`, 'latin1');
  } catch {
    return [];
  }
  const mappings: Mapping[] = [];
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \d+\s+(\/.*)$/.exec(line);
    if (match === null || match[3]![2] !== 'x') continue;
    mappings.push({ start: BigInt('0x' + match[1]), end: BigInt('0x' + match[2]), offset: BigInt('0x' + match[4]), path: match[5]!.replace(/ \(deleted\)$/, '') });
  }
  return mappings;
}
