// ELF files for dynamic probes (SPEC §4.5, §4.6): function symbols, address → file offset, SDT
// notes, build-id and debug link; every read is bounds-checked, so a hostile file is an ElfError.

import * as fs from 'node:fs';
import { UserError } from '../errors';
import { globToRegExp } from './resolve';

/** A file ktap cannot read as an ELF file, one line for the user naming the file. */
export class ElfError extends UserError {
  constructor(message: string) {
    super(message, 'elf');
  }
}

export type ElfMachine = 'x86_64' | 'aarch64';

export type SymbolBinding = 'local' | 'global' | 'weak' | 'unique' | 'other';

export interface ElfSymbol {
  readonly name: string;
  /** The symbol's value: a link-time virtual address (relative to the load base in a PIE or DSO). */
  readonly address: bigint;
  readonly size: bigint;
  readonly binding: SymbolBinding;
  /**
   * An indirect function (STT_GNU_IFUNC): its address is the resolver, which runs once when the
   * dynamic linker binds it, so a probe there does not see the calls (libc's memcpy is one).
   */
  readonly ifunc: boolean;
}

/** One argument of an SDT marker: `-4@%edi` is a signed 4-byte value in %edi. */
export interface SdtArgument {
  /** Bytes, normally 1, 2, 4 or 8. */
  readonly size: number;
  readonly signed: boolean;
  /** A floating-point value (`8f@%xmm0`, newer sdt.h), which uprobe fetch arguments cannot read. */
  readonly float: boolean;
  /** The operand in the assembler's syntax: `%edi`, `-8(%rbp)`, `$5`, `x1`, `[sp, 16]`. */
  readonly spec: string;
}

/** One `.note.stapsdt` marker; addresses already moved by the prelink adjustment. */
export interface SdtNote {
  readonly provider: string;
  readonly name: string;
  /** The marker's instruction (the note's pc). */
  readonly address: bigint;
  /** The `.stapsdt.base` address the note was written against. */
  readonly base: bigint;
  /** The is-enabled counter, or undefined when the marker has none. */
  readonly semaphore: bigint | undefined;
  /** The argument string as written in the note, e.g. `-4@%edi 8@%rsi`. */
  readonly argumentText: string;
  readonly arguments: readonly SdtArgument[];
  /** Where the uprobe goes; undefined when no loadable segment holds the address. */
  readonly fileOffset: number | undefined;
  /** The uprobe's `(ref_ctr_offset)`; undefined without a semaphore or outside every segment. */
  readonly semaphoreFileOffset: number | undefined;
}

// ---------------------------------------------------------------------------------------
// Format constants (ELF64, System V gABI and the GNU extensions)

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const ELF_CLASS_64 = 2;
const ELF_DATA_LITTLE_ENDIAN = 1;
const MACHINES = new Map<number, ElfMachine>([[62, 'x86_64'], [183, 'aarch64']]);

const ELF_HEADER_SIZE = 64;
const SECTION_HEADER_SIZE = 64;
const PROGRAM_HEADER_SIZE = 56;
const SYMBOL_SIZE = 24;
const NOTE_HEADER_SIZE = 12;

const SHT_SYMTAB = 2;
const SHT_NOTE = 7;
const SHT_NOBITS = 8;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const PT_NOTE = 4;
/** e_shstrndx saying the real index is in section 0's sh_link. */
const SHN_XINDEX = 0xffff;
/** e_phnum saying the real count is in section 0's sh_info. */
const PN_XNUM = 0xffff;
const SHN_UNDEF = 0;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const NT_GNU_BUILD_ID = 3;
const NT_STAPSDT = 3;
const BINDINGS: ReadonlyMap<number, SymbolBinding> = new Map([[0, 'local'], [1, 'global'], [2, 'weak'], [10, 'unique']]);

/**
 * How many times over the bytes of a string table its names may be decoded. Linkers let a name
 * end inside another (`malloc` in `__libc_malloc`), so some bytes are shared by a few names;
 * a hostile table could point thousands of symbols into one long string instead.
 */
const STRING_TABLE_REUSE = 8;

interface Section {
  readonly name: string;
  readonly type: number;
  readonly address: bigint;
  readonly offset: bigint;
  readonly size: bigint;
  readonly link: number;
  readonly entrySize: bigint;
  readonly alignment: bigint;
}

interface Segment {
  readonly type: number;
  readonly offset: bigint;
  readonly address: bigint;
  readonly fileSize: bigint;
  readonly alignment: bigint;
}

/** A byte range of the file, already checked to lie inside it. */
interface Extent {
  readonly start: number;
  readonly end: number;
}

interface Note {
  readonly owner: string;
  readonly type: number;
  readonly description: Extent;
}

const utf8 = new TextDecoder('utf-8');

// ---------------------------------------------------------------------------------------
// The file

export class ElfFile {
  readonly path: string;
  private symbolList: readonly ElfSymbol[] | undefined;
  private sdtList: readonly SdtNote[] | undefined;

  private constructor(
    private readonly file: ElfBytes,
    readonly machine: ElfMachine,
    private readonly sections: readonly Section[],
    private readonly segments: readonly Segment[],
  ) {
    this.path = file.path;
  }

  /** Reads and parses PATH; any failure, from a missing file on, is an ElfError. */
  static open(path: string): ElfFile {
    let bytes: Buffer;
    try {
      // Only regular files: a device such as /dev/zero would be read forever.
      if (!fs.statSync(path).isFile()) throw new ElfError(`cannot read ELF file '${path}': not a regular file`);
      bytes = fs.readFileSync(path);
    } catch (error) {
      if (error instanceof ElfError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
      throw new ElfError(`cannot read ELF file '${path}': ${reason}`);
    }
    return ElfFile.parse(bytes, path);
  }

  /** Parses the headers of an ELF file held in BYTES; PATH names it in errors. */
  static parse(bytes: Uint8Array, path: string): ElfFile {
    if (bytes.length < ELF_MAGIC.length || ELF_MAGIC.some((byte, index) => bytes[index] !== byte)) {
      throw new ElfError(`not an ELF file: '${path}'`);
    }
    const file = new ElfBytes(bytes, path);
    file.extent(0n, BigInt(ELF_HEADER_SIZE), 'ELF header');
    if (bytes[4] !== ELF_CLASS_64) throw file.unsupported(bytes[4] === 1 ? '32-bit' : `ELF class ${bytes[4]}`);
    if (bytes[5] !== ELF_DATA_LITTLE_ENDIAN) throw file.unsupported(bytes[5] === 2 ? 'big-endian' : `data encoding ${bytes[5]}`);
    const machineNumber = file.view.getUint16(18, true);
    const machine = MACHINES.get(machineNumber);
    if (machine === undefined) throw file.unsupported(`machine ${machineNumber}`);
    const { sections, programHeaderCount } = readSections(file);
    return new ElfFile(file, machine, sections, readSegments(file, programHeaderCount));
  }

  /** Function symbols (FUNC and IFUNC) defined here, from .symtab and .dynsym, by address then name. */
  symbols(): readonly ElfSymbol[] {
    if (this.symbolList !== undefined) return this.symbolList;
    const { bytes, view } = this.file;
    const symbols: ElfSymbol[] = [];
    const seen = new Set<string>();
    for (const section of this.sections) {
      if (section.type !== SHT_SYMTAB && section.type !== SHT_DYNSYM) continue;
      const what = `symbol table ${printable(section.name)}`;
      if (section.entrySize !== BigInt(SYMBOL_SIZE)) throw this.file.corrupt(`${what} has entries of ${section.entrySize} bytes`);
      const table = this.contents(section, what);
      const linked = this.sections[section.link];
      if (linked === undefined) throw this.file.corrupt(`${what} links to no string table`);
      const strings = new StringTable(this.file, this.contents(linked, `string table ${printable(linked.name)}`), 'symbol');
      for (let entry = table.start; entry + SYMBOL_SIZE <= table.end; entry += SYMBOL_SIZE) {
        const info = bytes[entry + 4]!;
        const type = info & 0xf;
        if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || view.getUint16(entry + 6, true) === SHN_UNDEF) continue;
        const name = strings.at(view.getUint32(entry, true));
        const address = view.getBigUint64(entry + 8, true);
        const key = `${name}\0${address}`;
        if (name === '' || seen.has(key)) continue;
        seen.add(key);
        symbols.push({
          name,
          address,
          size: view.getBigUint64(entry + 16, true),
          binding: BINDINGS.get(info >> 4) ?? 'other',
          ifunc: type === STT_GNU_IFUNC,
        });
      }
    }
    symbols.sort((left, right) => (left.address < right.address ? -1 : left.address > right.address ? 1 : compareText(left.name, right.name)));
    return (this.symbolList = symbols);
  }

  /** Function symbols whose names match GLOB (SPEC §4.1); a name may come at several addresses. */
  findSymbols(glob: string): ElfSymbol[] {
    const pattern = globToRegExp(glob);
    return this.symbols().filter((symbol) => pattern.test(symbol.name));
  }

  /**
   * The file offset of the byte loaded at link-time ADDRESS, through the PT_LOAD segment holding
   * it; the same arithmetic serves executables, PIEs and shared objects, whose uprobes the kernel
   * places by file offset. Undefined when no segment's file bytes hold it (.bss, unmapped).
   */
  addressToFileOffset(address: bigint): number | undefined {
    for (const segment of this.segments) {
      if (segment.type !== PT_LOAD || address < segment.address) continue;
      const delta = address - segment.address;
      // Parsing checked offset + fileSize against the file, so the result is a safe number.
      if (delta < segment.fileSize) return Number(segment.offset + delta);
    }
    return undefined;
  }

  /** The link-time address of a file offset (the inverse, for symbolizing user stacks). */
  fileOffsetToAddress(offset: bigint): bigint | undefined {
    for (const segment of this.segments) {
      if (segment.type !== PT_LOAD || offset < segment.offset) continue;
      const delta = offset - segment.offset;
      if (delta < segment.fileSize) return segment.address + delta;
    }
    return undefined;
  }

  /** The SDT (stapsdt) markers, in the order of their notes. */
  sdtNotes(): readonly SdtNote[] {
    if (this.sdtList !== undefined) return this.sdtList;
    const view = this.file.view;
    // Prelink moves the sections but not the non-allocated notes: the distance between the note's
    // recorded base and where .stapsdt.base is now is what every address moved (SystemTap's
    // UserSpaceProbeImplementation).
    const baseSection = this.sections.find((section) => section.name === '.stapsdt.base');
    const markers: SdtNote[] = [];
    for (const note of this.notes(true)) {
      if (note.owner !== 'stapsdt' || note.type !== NT_STAPSDT) continue;
      const { start, end } = note.description;
      if (end - start < 24) throw this.file.corrupt('SDT note shorter than its three addresses');
      const pc = view.getBigUint64(start, true);
      const base = view.getBigUint64(start + 8, true);
      const semaphore = view.getBigUint64(start + 16, true);
      const [provider, name, argumentText] = this.noteStrings(start + 24, end);
      const shift = baseSection !== undefined && base !== 0n ? baseSection.address - base : 0n;
      const address = BigInt.asUintN(64, pc + shift);
      const semaphoreAddress = semaphore === 0n ? undefined : BigInt.asUintN(64, semaphore + shift);
      markers.push({
        provider,
        name,
        address,
        base,
        semaphore: semaphoreAddress,
        argumentText,
        arguments: parseSdtArguments(argumentText),
        fileOffset: this.addressToFileOffset(address),
        semaphoreFileOffset: semaphoreAddress === undefined ? undefined : this.addressToFileOffset(semaphoreAddress),
      });
    }
    return (this.sdtList = markers);
  }

  /** The GNU build-id as lowercase hex, or undefined without one. */
  buildId(): string | undefined {
    for (const note of this.notes(false)) {
      if (note.owner === 'GNU' && note.type === NT_GNU_BUILD_ID) {
        return Buffer.from(this.file.bytes.subarray(note.description.start, note.description.end)).toString('hex');
      }
    }
    return undefined;
  }

  /** The file name in .gnu_debuglink (the separate debug file), or undefined without one. */
  debugLink(): string | undefined {
    const section = this.sections.find((candidate) => candidate.name === '.gnu_debuglink');
    if (section === undefined) return undefined;
    const { start, end } = this.contents(section, 'section .gnu_debuglink');
    return this.file.string(start, end, 'unterminated name in .gnu_debuglink').text;
  }

  /** The bytes of SECTION, checked to lie in the file; a .bss-like section has none. */
  private contents(section: Section, what: string): Extent {
    if (section.type === SHT_NOBITS) return { start: 0, end: 0 };
    return this.file.extent(section.offset, section.size, what);
  }

  /**
   * Every note of the file's note sections; the SDT notes are in a section the loader does not
   * map, while a build-id is also found through PT_NOTE when a file has no section headers.
   */
  private notes(sectionsOnly: boolean): Note[] {
    const { bytes, view } = this.file;
    const areas: { extent: Extent; alignment: bigint }[] = [];
    for (const section of this.sections) {
      if (section.type === SHT_NOTE) areas.push({ extent: this.contents(section, `note section ${printable(section.name)}`), alignment: section.alignment });
    }
    if (this.sections.length === 0 && !sectionsOnly) {
      for (const segment of this.segments) {
        if (segment.type === PT_NOTE) areas.push({ extent: this.file.extent(segment.offset, segment.fileSize, 'note segment'), alignment: segment.alignment });
      }
    }
    const notes: Note[] = [];
    for (const { extent, alignment } of areas) {
      // Notes are padded to 4 bytes, except in the 8-aligned areas of .note.gnu.property.
      const padding = alignment === 8n ? 8 : 4;
      let cursor = extent.start;
      while (cursor + NOTE_HEADER_SIZE <= extent.end) {
        const ownerSize = view.getUint32(cursor, true);
        const descriptionSize = view.getUint32(cursor + 4, true);
        const type = view.getUint32(cursor + 8, true);
        const ownerStart = cursor + NOTE_HEADER_SIZE;
        const descriptionStart = alignUp(ownerStart + ownerSize, padding);
        const descriptionEnd = descriptionStart + descriptionSize;
        if (descriptionEnd > extent.end) throw this.file.corrupt('note beyond the end of its section');
        const ownerBytes = bytes.subarray(ownerStart, ownerStart + ownerSize);
        const ownerEnd = ownerBytes.indexOf(0);
        notes.push({
          owner: utf8.decode(ownerEnd < 0 ? ownerBytes : ownerBytes.subarray(0, ownerEnd)),
          type,
          description: { start: descriptionStart, end: descriptionEnd },
        });
        // Always at least the header forward, so a loop over hostile notes ends.
        cursor = alignUp(descriptionEnd, padding);
      }
    }
    return notes;
  }

  /** The three NUL-terminated strings closing an SDT note: provider, name, arguments. */
  private noteStrings(start: number, end: number): [string, string, string] {
    const provider = this.file.string(start, end, 'unterminated string in an SDT note');
    const name = this.file.string(provider.next, end, 'unterminated string in an SDT note');
    const argumentText = this.file.string(name.next, end, 'unterminated string in an SDT note');
    return [provider.text, name.text, argumentText.text];
  }
}

// ---------------------------------------------------------------------------------------
// Checked reading

/** The file's bytes, the bounds checks every read goes through, and the errors naming the file. */
class ElfBytes {
  readonly view: DataView;

  constructor(readonly bytes: Uint8Array, readonly path: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** [OFFSET, OFFSET + SIZE) as numbers, or the truncated-file error for WHAT when it leaves the file. */
  extent(offset: bigint, size: bigint, what: string): Extent {
    if (offset + size > BigInt(this.bytes.length)) throw new ElfError(`truncated ELF file '${this.path}': ${what} beyond end of file`);
    return { start: Number(offset), end: Number(offset + size) };
  }

  /** The NUL-terminated string at START, which must end before END, and where the next one starts. */
  string(start: number, end: number, unterminated: string): { text: string; next: number } {
    const terminator = start < end ? this.bytes.subarray(start, end).indexOf(0) : -1;
    if (terminator < 0) throw this.corrupt(unterminated);
    return { text: utf8.decode(this.bytes.subarray(start, start + terminator)), next: start + terminator + 1 };
  }

  corrupt(reason: string): ElfError {
    return new ElfError(`corrupt ELF file '${this.path}': ${reason}`);
  }

  unsupported(what: string): ElfError {
    return new ElfError(`unsupported ELF file '${this.path}': ${what} (ktap reads 64-bit little-endian x86-64 and aarch64 files)`);
  }
}

/**
 * The section header table, named, and the program header count (which section 0 carries when
 * it does not fit the ELF header's 16-bit field, like the section count and name-table index).
 */
function readSections(file: ElfBytes): { sections: Section[]; programHeaderCount: bigint } {
  const view = file.view;
  const sectionTableOffset = view.getBigUint64(40, true);
  let sectionCount = BigInt(view.getUint16(60, true));
  let namesIndex = view.getUint16(62, true);
  let programHeaderCount = BigInt(view.getUint16(56, true));
  const sections: Section[] = [];
  if (sectionTableOffset === 0n) return { sections, programHeaderCount };
  const entrySize = view.getUint16(58, true);
  if (entrySize !== SECTION_HEADER_SIZE) throw file.corrupt(`section headers of ${entrySize} bytes`);
  const first = file.extent(sectionTableOffset, BigInt(SECTION_HEADER_SIZE), 'section header table').start;
  if (sectionCount === 0n) sectionCount = view.getBigUint64(first + 32, true);
  if (namesIndex === SHN_XINDEX) namesIndex = view.getUint32(first + 40, true);
  if (programHeaderCount === BigInt(PN_XNUM)) programHeaderCount = BigInt(view.getUint32(first + 44, true));
  const table = file.extent(sectionTableOffset, sectionCount * BigInt(SECTION_HEADER_SIZE), 'section header table');
  const names = sectionNameTable(file, table, namesIndex);
  for (let entry = table.start; entry < table.end; entry += SECTION_HEADER_SIZE) {
    sections.push({
      name: names === undefined ? '' : names.at(view.getUint32(entry, true)),
      type: view.getUint32(entry + 4, true),
      address: view.getBigUint64(entry + 16, true),
      offset: view.getBigUint64(entry + 24, true),
      size: view.getBigUint64(entry + 32, true),
      link: view.getUint32(entry + 40, true),
      alignment: view.getBigUint64(entry + 48, true),
      entrySize: view.getBigUint64(entry + 56, true),
    });
  }
  return { sections, programHeaderCount };
}

/** The section name table of the section header TABLE, or undefined when the file has none. */
function sectionNameTable(file: ElfBytes, table: Extent, namesIndex: number): StringTable | undefined {
  const count = (table.end - table.start) / SECTION_HEADER_SIZE;
  if (namesIndex === SHN_UNDEF || count === 0) return undefined;
  if (namesIndex >= count) throw file.corrupt(`section name table ${namesIndex} of ${count} sections`);
  const entry = table.start + namesIndex * SECTION_HEADER_SIZE;
  const extent = file.extent(file.view.getBigUint64(entry + 24, true), file.view.getBigUint64(entry + 32, true), 'section name table');
  return new StringTable(file, extent, 'section');
}

function readSegments(file: ElfBytes, count: bigint): Segment[] {
  const view = file.view;
  if (count === 0n) return [];
  const entrySize = view.getUint16(54, true);
  if (entrySize !== PROGRAM_HEADER_SIZE) throw file.corrupt(`program headers of ${entrySize} bytes`);
  const table = file.extent(view.getBigUint64(32, true), count * BigInt(PROGRAM_HEADER_SIZE), 'program header table');
  const segments: Segment[] = [];
  for (let entry = table.start; entry < table.end; entry += PROGRAM_HEADER_SIZE) {
    const segment: Segment = {
      type: view.getUint32(entry, true),
      offset: view.getBigUint64(entry + 8, true),
      address: view.getBigUint64(entry + 16, true),
      fileSize: view.getBigUint64(entry + 32, true),
      alignment: view.getBigUint64(entry + 48, true),
    };
    // Checked once here, so that addressToFileOffset only ever answers offsets inside the file.
    if (segment.type === PT_LOAD && segment.fileSize !== 0n) file.extent(segment.offset, segment.fileSize, 'loadable segment');
    segments.push(segment);
  }
  return segments;
}

/** A name from the file as it may appear in a message: printable, and not endless. */
function printable(name: string): string {
  const shown = name.replace(/[^\x20-\x7e]/g, '?');
  return shown.length > 64 ? `${shown.slice(0, 64)}...` : shown;
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

// ---------------------------------------------------------------------------------------
// String tables

/**
 * Names out of one string table (symbols' or sections'): NUL-bounded, each offset decoded once,
 * and the total decoded bounded, so a hostile table costs time linear in the file.
 */
class StringTable {
  private readonly names = new Map<number, string>();
  /** Bytes that may still be decoded (see STRING_TABLE_REUSE). */
  private budget: number;

  constructor(private readonly file: ElfBytes, private readonly extent: Extent, private readonly kind: 'symbol' | 'section') {
    this.budget = (extent.end - extent.start) * STRING_TABLE_REUSE;
  }

  at(offset: number): string {
    let name = this.names.get(offset);
    if (name !== undefined) return name;
    const found = this.file.string(this.extent.start + offset, this.extent.end, `${this.kind} names outside their string table`);
    this.budget -= found.next - (this.extent.start + offset);
    if (this.budget < 0) throw this.file.corrupt(`${this.kind} names overlap far more than a linker shares them`);
    name = found.text;
    this.names.set(offset, name);
    return name;
  }
}

// ---------------------------------------------------------------------------------------
// SDT arguments

/**
 * The symbols with one per address: where several names share an address (libc's `malloc`
 * and `__libc_malloc`; `free`, `cfree` and `__libc_free`) the one a user expects, by
 * preferredAlias. In the order of SYMBOLS' first name at each address.
 */
export function onePerAddress(symbols: readonly ElfSymbol[]): ElfSymbol[] {
  const chosen = new Map<bigint, ElfSymbol>();
  for (const symbol of symbols) {
    const current = chosen.get(symbol.address);
    if (current === undefined || preferredAlias(symbol, current) < 0) chosen.set(symbol.address, symbol);
  }
  return [...chosen.values()];
}

/**
 * Which of two names of one address comes first (negative: LEFT): an exported symbol
 * (global, weak, unique) before a local one, a name without a leading `_` before one with,
 * then the shorter, then in byte order.
 */
export function preferredAlias(left: ElfSymbol, right: ElfSymbol): number {
  const rank = (symbol: ElfSymbol): number => (symbol.binding === 'local' ? 2 : 0) + (symbol.name.startsWith('_') ? 1 : 0);
  return rank(left) - rank(right) || left.name.length - right.name.length || compareText(left.name, right.name);
}

/**
 * `-4@%edi 8@%rsi` → arguments: `[-]SIZE[f]@OPERAND`, separated by spaces except inside the
 * brackets of an aarch64 memory operand (`8@[sp, 16]`); an operand without `SIZE@` (the oldest
 * note version) is a signed long.
 */
export function parseSdtArguments(text: string): SdtArgument[] {
  const operands: string[] = [];
  let current = '';
  let depth = 0;
  for (const character of text) {
    if (character === '[') depth++;
    else if (character === ']' && depth > 0) depth--;
    if (character === ' ' && depth === 0) {
      if (current !== '') operands.push(current);
      current = '';
    } else current += character;
  }
  if (current !== '') operands.push(current);
  return operands.map((operand) => {
    const sized = /^(-?)(\d+)(f?)@(.+)$/s.exec(operand);
    if (sized === null) return { size: 8, signed: true, float: false, spec: operand };
    return { size: Number(sized[2]), signed: sized[1] === '-', float: sized[3] === 'f', spec: sized[4]! };
  });
}

// ---------------------------------------------------------------------------------------
// -lf and -lm

/** `ktap -lf DSO`: the names usable as `probe:DSO:NAME`, sorted, each once. */
export function listFunctions(path: string): string[] {
  const file = ElfFile.open(path);
  // A symbol without file bytes (in an object file, or hostile) cannot carry a uprobe.
  const names = file.symbols().filter((symbol) => file.addressToFileOffset(symbol.address) !== undefined).map((symbol) => symbol.name);
  return [...new Set(names)].sort(compareText);
}

/** `ktap -lm DSO`: the SDT markers as `PROVIDER:NAME`, sorted, each once. */
export function listMarkers(path: string): string[] {
  const markers = ElfFile.open(path).sdtNotes().map((note) => `${note.provider}:${note.name}`);
  return [...new Set(markers)].sort(compareText);
}

/** Code-unit order: the same on every machine, unlike localeCompare. */
function compareText(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}
