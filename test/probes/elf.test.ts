// The ELF reader against binutils on programs compiled here and on libc: function symbols,
// file offsets, SDT notes (and the prelink adjustment), build-id, debug link, -lf/-lm, errors.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElfError, ElfFile, listFunctions, listMarkers, parseSdtArguments, type ElfSymbol } from '../../src/probes/elf';
import { buildTestPrograms } from './elf-programs';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const PYTHON = '/usr/bin/python3';

const programs = buildTestPrograms();
t.teardown(programs.remove);

function readelf(...args: string[]): string {
  return execFileSync('readelf', ['-W', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** Defined FUNC/IFUNC symbols of `readelf -s` as `name binding address size ifunc`, each once. */
function readelfFunctions(path: string): string[] {
  const lines = new Set<string>();
  for (const line of readelf('-s', path).split('\n')) {
    const fields = /^\s*\d+:\s+([0-9a-f]+)\s+(\S+)\s+(FUNC|IFUNC)\s+(\w+)\s+\w+\s+(\S+)\s+(\S+)/.exec(line);
    if (fields === null || fields[5] === 'UND') continue;
    // .dynsym names carry their version (malloc@@GLIBC_2.2.5); the symbol is the part before.
    const name = fields[6]!.replace(/@.*/, '');
    lines.add(`${name} ${fields[4]!.toLowerCase()} ${BigInt(`0x${fields[1]}`)} ${BigInt(fields[2]!)} ${fields[3] === 'IFUNC'}`);
  }
  return [...lines].sort();
}

function describe(symbols: readonly ElfSymbol[]): string[] {
  return symbols.map((symbol) => `${symbol.name} ${symbol.binding} ${symbol.address} ${symbol.size} ${symbol.ifunc}`).sort();
}

interface Load {
  offset: bigint;
  address: bigint;
  fileSize: bigint;
  memorySize: bigint;
}

function readelfLoads(path: string): Load[] {
  const loads: Load[] = [];
  for (const line of readelf('-l', path).split('\n')) {
    const fields = /^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)/.exec(line);
    if (fields !== null) loads.push({ offset: BigInt(fields[1]!), address: BigInt(fields[2]!), fileSize: BigInt(fields[3]!), memorySize: BigInt(fields[4]!) });
  }
  return loads;
}

/** The file offset by `readelf -l` arithmetic: address - VirtAddr + Offset of the LOAD whose file bytes hold it. */
function expectedOffset(loads: readonly Load[], address: bigint): number | undefined {
  const load = loads.find((candidate) => address >= candidate.address && address < candidate.address + candidate.fileSize);
  return load === undefined ? undefined : Number(address - load.address + load.offset);
}

interface ReadelfNote {
  provider: string;
  name: string;
  location: bigint;
  base: bigint;
  semaphore: bigint;
  argumentText: string;
}

function readelfSdtNotes(path: string): ReadelfNote[] {
  const pattern = /Provider: (.*)\n\s*Name: (.*)\n\s*Location: (0x[0-9a-f]+), Base: (0x[0-9a-f]+), Semaphore: (0x[0-9a-f]+)\n\s*Arguments: ?(.*)/g;
  return [...readelf('-n', path).matchAll(pattern)].map((fields) => ({
    provider: fields[1]!,
    name: fields[2]!,
    location: BigInt(fields[3]!),
    base: BigInt(fields[4]!),
    semaphore: BigInt(fields[5]!),
    argumentText: fields[6]!,
  }));
}

function readelfBuildId(path: string): string | undefined {
  return /Build ID: ([0-9a-f]+)/.exec(readelf('-n', path))?.[1];
}

/** A section's address and file offset from `readelf -S`. */
function readelfSection(path: string, name: string): { address: bigint; offset: bigint } {
  const line = readelf('-S', path).split('\n').find((candidate) => candidate.includes(` ${name} `))!;
  const fields = /\]\s+\S+\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line)!;
  return { address: BigInt(`0x${fields[1]}`), offset: BigInt(`0x${fields[2]}`) };
}

t.test('symbols: every defined FUNC and IFUNC of .symtab and .dynsym, as readelf sees them', async (t) => {
  for (const path of [programs.pie, programs.noPie, programs.library, programs.strippedLibrary, programs.markers, LIBC]) {
    const expected = readelfFunctions(path);
    t.ok(expected.length > 0, `${path}: readelf lists functions`);
    t.strictSame(describe(ElfFile.open(path).symbols()), expected, path);
  }
  const pie = ElfFile.open(programs.pie);
  t.equal(pie.machine, 'x86_64');
  const triple = pie.findSymbols('ktap_triple');
  t.equal(triple.length, 1);
  t.equal(triple[0]!.binding, 'local', 'static functions come from .symtab');
  const addresses = pie.symbols().map((symbol) => symbol.address);
  t.strictSame(addresses, [...addresses].sort((left, right) => (left < right ? -1 : left > right ? 1 : 0)), 'ordered by address');
});

t.test('symbols: each at the address nm gives it, as a text symbol', async (t) => {
  for (const path of [programs.pie, programs.noPie, programs.library]) {
    const listed = new Set<string>();
    for (const line of execFileSync('nm', ['--defined-only', path], { encoding: 'utf8' }).split('\n')) {
      const fields = /^([0-9a-f]+) [TtWwi] (\S+)$/.exec(line);
      if (fields !== null) listed.add(`${fields[2]} ${BigInt(`0x${fields[1]}`)}`);
    }
    const missing = ElfFile.open(path).symbols().map((symbol) => `${symbol.name} ${symbol.address}`).filter((symbol) => !listed.has(symbol));
    t.strictSame(missing, [], path);
  }
});

t.test('symbols: .dynsym and .symtab entries of one function count once; a stripped library keeps its exports', async (t) => {
  const library = ElfFile.open(programs.library);
  t.strictSame(library.findSymbols('ktaplib_square').map((symbol) => symbol.binding), ['global']);
  const ifunc = library.findSymbols('ktaplib_ifunc');
  t.strictSame(ifunc.map((symbol) => symbol.ifunc), [true]);
  const stripped = ElfFile.open(programs.strippedLibrary);
  t.strictSame(stripped.findSymbols('ktaplib_*').map((symbol) => symbol.name).sort(), ['ktaplib_call', 'ktaplib_ifunc', 'ktaplib_square']);
  t.strictSame(stripped.findSymbols('ktaplib_hidden'), [], 'a static function leaves with .symtab');
  t.strictSame(ElfFile.open(programs.debugLinked).symbols(), [], 'a stripped PIE exports no functions: their names are in the debug-link file');
  t.strictSame(readelfFunctions(programs.debugLinked), []);
});

t.test('findSymbols: the globs of SPEC §4.1', async (t) => {
  const pie = ElfFile.open(programs.pie);
  const names = (glob: string) => pie.findSymbols(glob).map((symbol) => symbol.name).sort();
  t.strictSame(names('ktap_*'), ['ktap_add', 'ktap_greet', 'ktap_triple']);
  t.strictSame(names('ktap_[ag]*'), ['ktap_add', 'ktap_greet']);
  t.strictSame(names('ktap_[!ag]*'), ['ktap_triple']);
  t.strictSame(names('ktap_ad?'), ['ktap_add']);
  t.strictSame(names('main'), ['main']);
  t.strictSame(names('nothing*'), []);
  const libc = ElfFile.open(LIBC);
  t.ok(libc.findSymbols('malloc').length >= 1, 'libc has malloc');
  t.ok(libc.findSymbols('mallo?').some((symbol) => symbol.name === 'malloc'));
});

t.test('addressToFileOffset: readelf -l arithmetic for executables, PIEs and shared objects', async (t) => {
  for (const path of [programs.pie, programs.noPie, programs.library, programs.markersNoPie, LIBC]) {
    const file = ElfFile.open(path);
    const loads = readelfLoads(path);
    let mismatches = 0;
    for (const symbol of file.symbols()) {
      if (file.addressToFileOffset(symbol.address) !== expectedOffset(loads, symbol.address)) mismatches++;
    }
    t.equal(mismatches, 0, `${path}: ${file.symbols().length} symbols`);
    for (const load of loads) {
      t.equal(file.addressToFileOffset(load.address), Number(load.offset), 'a segment starts at its file offset');
      t.equal(file.addressToFileOffset(load.address + load.fileSize - 1n), Number(load.offset + load.fileSize - 1n));
      if (load.memorySize > load.fileSize) t.equal(file.addressToFileOffset(load.address + load.fileSize), undefined, '.bss has no file bytes');
    }
    t.equal(file.addressToFileOffset(2n ** 64n - 1n), undefined, 'outside every segment');
  }
  const noPie = ElfFile.open(programs.noPie);
  t.equal(noPie.addressToFileOffset(0n), undefined, 'a non-PIE loads nothing at 0');
  const main = noPie.findSymbols('main')[0]!;
  t.ok(main.address >= 0x400000n && noPie.addressToFileOffset(main.address)! < 0x400000, 'a non-PIE maps its file high up');
});

t.test('sdtNotes: provider, name, addresses and arguments as readelf -n shows them', async (t) => {
  // Debian's python3 is built with markers that have semaphores: a real-world sample where present.
  const optional = [programs.headerMarkers, PYTHON].filter((path): path is string => path !== undefined && existsSync(path));
  const paths = [programs.markers, programs.markersNoPie, ...optional];
  for (const path of paths) {
    const notes = ElfFile.open(path).sdtNotes();
    const expected = readelfSdtNotes(path);
    t.ok(expected.length >= 2, `${path}: readelf sees the markers`);
    t.strictSame(
      notes.map((note) => ({ provider: note.provider, name: note.name, location: note.address, base: note.base, semaphore: note.semaphore ?? 0n, argumentText: note.argumentText })),
      expected,
      path,
    );
    const loads = readelfLoads(path);
    const probes = readelfSection(path, '.probes');
    for (const note of notes) {
      t.equal(note.fileOffset, expectedOffset(loads, note.address), `${note.name}: uprobe offset`);
      // Cross-checked through the section table rather than the segments the reader uses.
      const semaphoreOffset = note.semaphore === undefined ? undefined : Number(note.semaphore - probes.address + probes.offset);
      t.equal(note.semaphoreFileOffset, semaphoreOffset, `${note.name}: semaphore offset`);
    }
  }
  const notes = ElfFile.open(programs.markers).sdtNotes();
  const pair = notes.find((note) => note.name === 'pair')!;
  t.equal(pair.arguments.length, 3);
  t.match(pair.arguments[0], { size: 4, signed: true, float: false, spec: /^%/ });
  t.match(pair.arguments[1], { size: 8, signed: false, spec: /^%r/ });
  t.strictSame(pair.arguments[2], { size: 2, signed: false, float: false, spec: '$7' });
  t.strictSame(notes.find((note) => note.name === 'plain')!.arguments, []);
  t.strictSame(notes.find((note) => note.name === 'guarded')!.arguments.map((argument) => argument.size), [8]);
  t.equal(ElfFile.open(programs.pie).sdtNotes().length, 0, 'no markers, no notes');
});

t.test('sdtNotes: addresses follow .stapsdt.base when prelink moved the sections', async (t) => {
  const bytes = readFileSync(programs.markers);
  const original = ElfFile.parse(bytes, programs.markers).sdtNotes();
  // Rewrite each note as if linked 0x1000 lower while .stapsdt.base stayed where it is: what
  // prelink leaves behind when it moves a library.
  const moved = Buffer.from(bytes);
  const shift = 0x1000n;
  for (const note of original) {
    const recorded = Buffer.alloc(24);
    recorded.writeBigUInt64LE(note.address, 0);
    recorded.writeBigUInt64LE(note.base, 8);
    recorded.writeBigUInt64LE(note.semaphore ?? 0n, 16);
    const at = moved.indexOf(recorded);
    t.ok(at > 0, `${note.name}: note found`);
    moved.writeBigUInt64LE(note.address - shift, at);
    moved.writeBigUInt64LE(note.base - shift, at + 8);
    if (note.semaphore !== undefined) moved.writeBigUInt64LE(note.semaphore - shift, at + 16);
  }
  const adjusted = ElfFile.parse(moved, 'moved').sdtNotes();
  t.strictSame(adjusted.map((note) => note.address), original.map((note) => note.address));
  t.strictSame(adjusted.map((note) => note.semaphore), original.map((note) => note.semaphore));
  t.strictSame(adjusted.map((note) => note.base), original.map((note) => note.base - shift), 'the recorded base is reported as written');
});

t.test('parseSdtArguments: x86-64 and aarch64 operands, signs, sizes, floats, the oldest form', async (t) => {
  t.strictSame(parseSdtArguments('-4@%edi 8@%rsi'), [
    { size: 4, signed: true, float: false, spec: '%edi' },
    { size: 8, signed: false, float: false, spec: '%rsi' },
  ]);
  t.strictSame(parseSdtArguments('-8@-8(%rbp) 1@$-1 8@symbol(%rip)').map((argument) => argument.spec), ['-8(%rbp)', '$-1', 'symbol(%rip)']);
  t.strictSame(parseSdtArguments('8@[sp, 16] -4@x1  2@[x2]'), [
    { size: 8, signed: false, float: false, spec: '[sp, 16]' },
    { size: 4, signed: true, float: false, spec: 'x1' },
    { size: 2, signed: false, float: false, spec: '[x2]' },
  ]);
  t.strictSame(parseSdtArguments('8f@%xmm0 -4f@%xmm1'), [
    { size: 8, signed: false, float: true, spec: '%xmm0' },
    { size: 4, signed: true, float: true, spec: '%xmm1' },
  ]);
  t.strictSame(parseSdtArguments('%eax'), [{ size: 8, signed: true, float: false, spec: '%eax' }]);
  t.strictSame(parseSdtArguments(''), []);
});

t.test('buildId and debugLink', async (t) => {
  for (const path of [programs.pie, programs.noPie, programs.library, programs.markers, LIBC]) {
    const expected = readelfBuildId(path);
    t.ok(expected !== undefined, `${path} has a build-id`);
    t.equal(ElfFile.open(path).buildId(), expected, path);
  }
  t.equal(ElfFile.open(programs.debugLinked).debugLink(), 'pie.debug');
  t.equal(ElfFile.open(programs.pie).debugLink(), undefined);
  const libcLink = /\]\s+(\S+)/.exec(readelf('--string-dump=.gnu_debuglink', LIBC))?.[1];
  t.equal(ElfFile.open(LIBC).debugLink(), libcLink, 'the name in libc');
});

t.test('listFunctions (-lf) and listMarkers (-lm)', async (t) => {
  const functions = listFunctions(programs.pie);
  t.strictSame(functions, [...new Set(functions)].sort(), 'sorted, each once');
  for (const name of ['ktap_add', 'ktap_greet', 'ktap_triple', 'main', '_start']) t.ok(functions.includes(name), name);
  t.ok(listFunctions(LIBC).includes('malloc'));
  t.strictSame(listFunctions(programs.strippedLibrary), ['ktaplib_call', 'ktaplib_ifunc', 'ktaplib_square']);
  t.strictSame(listMarkers(programs.markers), ['ktaptest:guarded', 'ktaptest:pair', 'ktaptest:plain']);
  t.strictSame(listMarkers(programs.pie), []);
  t.throws(() => listFunctions(join(programs.directory, 'program.c')), ElfError);
});

t.test('errors: one ElfError naming the file', async (t) => {
  const write = (name: string, bytes: Uint8Array | string) => {
    const path = join(programs.directory, name);
    writeFileSync(path, bytes);
    return path;
  };
  const pie = readFileSync(programs.pie);
  const patched = (offset: number, value: number) => {
    const copy = Buffer.from(pie);
    copy[offset] = value;
    return copy;
  };
  const cases: [string, string, RegExp][] = [
    ['text', write('text', 'hello, world\n'), /^not an ELF file: '.*\/text'$/],
    ['empty', write('empty', ''), /^not an ELF file: '.*\/empty'$/],
    ['half a header', write('header', pie.subarray(0, 40)), /^truncated ELF file '.*\/header': ELF header beyond end of file$/],
    ['truncated', write('truncated', pie.subarray(0, 4096)), /^truncated ELF file '.*\/truncated': section header table beyond end of file$/],
    ['32-bit', write('class', patched(4, 1)), /^unsupported ELF file '.*\/class': 32-bit \(ktap reads 64-bit little-endian x86-64 and aarch64 files\)$/],
    ['big-endian', write('endian', patched(5, 2)), /^unsupported ELF file '.*\/endian': big-endian/],
    ['ARM', write('machine', patched(18, 40)), /^unsupported ELF file '.*\/machine': machine 40/],
    ['missing', join(programs.directory, 'missing'), /^cannot read ELF file '.*\/missing': no such file$/],
    ['directory', programs.directory, /^cannot read ELF file '.*': not a regular file$/],
    ['device', '/dev/zero', /^cannot read ELF file '\/dev\/zero': not a regular file$/],
  ];
  for (const [what, path, message] of cases) {
    t.throws(() => ElfFile.open(path), { name: 'ElfError', message }, what);
  }
  // Section headers pointing into nowhere only fail the reads that need them.
  const badSymbols = Buffer.from(pie);
  const sectionTable = Number(badSymbols.readBigUInt64LE(40));
  for (let index = 0; index < badSymbols.readUInt16LE(60); index++) {
    const entry = sectionTable + index * 64;
    if (badSymbols.readUInt32LE(entry + 4) === 2) badSymbols.writeBigUInt64LE(2n ** 63n, entry + 24);
  }
  const damaged = ElfFile.parse(badSymbols, 'bad');
  t.throws(() => damaged.symbols(), { name: 'ElfError', message: "truncated ELF file 'bad': symbol table .symtab beyond end of file" });
  t.equal(damaged.buildId(), ElfFile.open(programs.pie).buildId(), 'what does not need .symtab still works');
});

t.test('string tables: names stay inside, and a hostile table cannot make decoding quadratic', async (t) => {
  const pie = readFileSync(programs.pie);
  const sectionTable = Number(pie.readBigUInt64LE(40));
  const header = (index: number) => sectionTable + index * 64;
  let symbolTable = 0;
  while (pie.readUInt32LE(header(symbolTable) + 4) !== 2) symbolTable++;
  const symbols = { start: Number(pie.readBigUInt64LE(header(symbolTable) + 24)), size: Number(pie.readBigUInt64LE(header(symbolTable) + 32)) };
  const stringTable = header(pie.readUInt32LE(header(symbolTable) + 40));
  const strings = { start: Number(pie.readBigUInt64LE(stringTable + 24)), size: Number(pie.readBigUInt64LE(stringTable + 32)) };

  const outside = Buffer.from(pie);
  const main = ElfFile.open(programs.pie).findSymbols('main')[0]!;
  for (let entry = symbols.start; entry < symbols.start + symbols.size; entry += 24) {
    if (outside.readBigUInt64LE(entry + 8) === main.address) outside.writeUInt32LE(strings.size, entry);
  }
  t.throws(() => ElfFile.parse(outside, 'outside').symbols(), { message: "corrupt ELF file 'outside': symbol names outside their string table" });

  // One long string, every symbol a function starting one byte further into it: each name is
  // almost the whole table, so decoding them all would cost symbols × table bytes.
  const overlapping = Buffer.from(pie);
  overlapping.fill('a', strings.start, strings.start + strings.size - 1);
  for (let entry = symbols.start, index = 0; entry < symbols.start + symbols.size; entry += 24, index++) {
    overlapping.writeUInt32LE(index, entry);
    overlapping[entry + 4] = 0x12;
    overlapping.writeUInt16LE(1, entry + 6);
  }
  t.ok(symbols.size / 24 > 16, 'enough symbols to exceed the budget');
  t.throws(() => ElfFile.parse(overlapping, 'overlapping').symbols(), {
    message: "corrupt ELF file 'overlapping': symbol names overlap far more than a linker shares them",
  });
});
