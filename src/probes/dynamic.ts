// Dynamic probe definitions (SPEC §4.4–4.6, §4.9) → kernel probe events: uprobes on ELF
// symbols or offsets, SDT markers with their argument specs and semaphores, and kprobes
// where the kernel has them. Returns the tracefs events to enable like tracepoints.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ElfFile, onePerAddress, type SdtArgument } from './elf';
import type { DefinitionOf } from '../syntax/headers';
import type { Tracepoint } from './resolve';
import { matchesGlob } from './resolve';
import { TracefsError } from './tracefs';
import { defaultFetchArgs, eventName, uprobePlace, type ProbeDefiner } from './uprobe';

/** Where dynamic probes are defined: uprobe_events, and kprobe_events when the kernel has it. */
export interface ProbeDefiners {
  readonly uprobes: ProbeDefiner;
  readonly kprobes: ProbeDefiner | null;
  /** A line for -v about how a definition was resolved. */
  note(text: string): void;
}

/** Whether this kernel can define kprobes (CONFIG_KPROBE_EVENTS). */
export function hasKprobes(root: string): boolean {
  return existsSync(join(root, 'kprobe_events'));
}

/**
 * Kprobes on every kernel text symbol matching the glob (kallsyms `t`/`T`), named after the
 * symbol (SPEC §4.4, §4.9); fetch arguments go to the kernel verbatim.
 */
export function defineKprobes(definition: DefinitionOf<'kprobe'>, definers: ProbeDefiners): Tracepoint[] {
  const probes = definers.kprobes;
  if (probes === null) {
    throw new TracefsError(`'${definition.text}': this kernel has no kprobes (CONFIG_KPROBE_EVENTS); ` +
      `use tracepoints (ktap -le) or ftrace:function`);
  }
  const symbols = kernelTextSymbols().filter((name) => matchesGlob(definition.symbol, name));
  if (symbols.length === 0) throw new TracefsError(`cannot find kernel symbol '${definition.symbol}'`);
  return symbols.map((symbol) => probes.define({
    event: eventName(`${definition.isReturn ? 'ret_' : ''}${symbol}`),
    isReturn: definition.isReturn,
    place: symbol,
    fetchArgs: definition.fetchArgs,
  }));
}

function kernelTextSymbols(): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/kallsyms', 'latin1');
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const match of text.matchAll(/^[0-9a-f]+ [tT] (\S+)$/gm)) names.add(match[1]!);
  return [...names];
}

function openElf(path: string): ElfFile {
  if (!path.startsWith('/')) throw new TracefsError(`uprobe path '${path}' must be absolute`);
  return ElfFile.open(path);
}

/** One uprobe a definition resolves to: its event name (probename) and where it is. */
export interface UprobeTarget {
  readonly event: string;
  readonly path: string;
  /** File offset of the probed instruction. */
  readonly offset: bigint;
  readonly isReturn: boolean;
}

/**
 * The uprobes of a definition: the functions of an ELF file matching a glob, one per address
 * (aliases folded, NOTE told how many), or a file offset (SPEC §4.5). Both tiers resolve
 * through here, so they probe the same places under the same names.
 */
export function resolveUprobes(definition: DefinitionOf<'uprobe'>, note: (text: string) => void): UprobeTarget[] {
  const { path, target, isReturn } = definition;
  if (/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(target)) {
    openElf(path);
    const offset = BigInt(target);
    return [{ event: `${isReturn ? 'ret_' : ''}addr_${offset.toString(16)}`, path, offset, isReturn }];
  }
  const elf = openElf(path);
  // A stripped binary's functions are in its debug-link file (same addresses, SPEC §4.5).
  const symbolSource = elf.symbols().length === 0 ? debugFile(elf, path) ?? elf : elf;
  const matched = symbolSource.findSymbols(target).filter((symbol) => !(isReturn && symbol.name === '_start'));
  if (matched.length === 0) throw new TracefsError(`cannot find symbol '${target}' in binary '${path}'`);
  // Names of one address (aliases) are one function: one probe, or each call would count once per name.
  const symbols = onePerAddress(matched);
  if (symbols.length < matched.length) {
    const folded = matched.length - symbols.length;
    note(`${definition.text}: ${matched.length} symbols at ${symbols.length} addresses, ${folded} alias${folded === 1 ? '' : 'es'} folded (one probe per address)`);
  }
  const targets: UprobeTarget[] = [];
  for (const symbol of symbols) {
    const offset = elf.addressToFileOffset(symbol.address);
    if (offset === undefined) continue;
    targets.push({ event: eventName(`${isReturn ? 'ret_' : ''}${symbol.name}`), path, offset: BigInt(offset), isReturn });
  }
  if (targets.length === 0) throw new TracefsError(`symbol '${target}' of '${path}' is in no loadable segment`);
  return targets;
}

/** Uprobes of a definition defined in uprobe_events (the user tier). */
export function defineUprobes(definition: DefinitionOf<'uprobe'>, definers: ProbeDefiners, userStrings: ReadonlySet<number>): Tracepoint[] {
  const fetchArgs = definition.fetchArgs !== '' ? definition.fetchArgs : defaultFetchArgs(definition.isReturn, userStrings);
  return resolveUprobes(definition, (text) => definers.note(text)).map((target) =>
    definers.uprobes.define({ event: target.event, isReturn: target.isReturn, place: uprobePlace(target.path, target.offset), fetchArgs }));
}

/** The separate debug file a stripped binary names (build-id path first, then its debug link). */
function debugFile(elf: ElfFile, path: string): ElfFile | undefined {
  const candidates: string[] = [];
  const buildId = elf.buildId();
  if (buildId !== undefined && buildId.length > 2) candidates.push(`/usr/lib/debug/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`);
  const link = elf.debugLink();
  if (link !== undefined) {
    const directory = dirname(path);
    candidates.push(join(directory, link), join(directory, '.debug', link), join('/usr/lib/debug', directory, link));
  }
  for (const candidate of candidates) {
    if (candidate === path || !existsSync(candidate)) continue;
    try {
      return ElfFile.open(candidate);
    } catch {
      // not a usable debug file: try the next place
    }
  }
  return undefined;
}

/** Uprobes on the SDT markers of an ELF file (SPEC §4.6), semaphores as reference counters. */
export function defineMarkers(definition: DefinitionOf<'sdt'>, definers: ProbeDefiners, userStrings: ReadonlySet<number>): Tracepoint[] {
  const probes = definers.uprobes;
  const { path, provider, name } = definition;
  const elf = openElf(path);
  const notes = elf.sdtNotes().filter((note) => matchesGlob(provider, note.provider) && matchesGlob(name, note.name));
  if (notes.length === 0) throw new TracefsError(`cannot find SDT marker '${provider === '*' ? name : `${provider}:${name}`}' in binary '${path}'`);
  const events: Tracepoint[] = [];
  for (const note of notes) {
    if (note.fileOffset === undefined) continue;
    const fetchArgs = note.arguments.map((argument, index) => sdtFetchArg(argument, index + 1, userStrings.has(index + 1)))
      .filter((text) => text !== '').join(' ');
    const semaphore = note.semaphoreFileOffset === undefined ? undefined : BigInt(note.semaphoreFileOffset);
    events.push(probes.define({ event: eventName(note.name), isReturn: false, place: uprobePlace(path, BigInt(note.fileOffset), semaphore), fetchArgs }));
  }
  return events;
}

/** 64-bit names of the x86-64 registers SDT notes name by any of their widths. */
const X86_REGISTERS: Record<string, string> = Object.fromEntries([
  ['ax', 'rax', 'eax', 'al'], ['bx', 'rbx', 'ebx', 'bl'], ['cx', 'rcx', 'ecx', 'cl'], ['dx', 'rdx', 'edx', 'dl'],
  ['si', 'rsi', 'esi', 'sil'], ['di', 'rdi', 'edi', 'dil'], ['bp', 'rbp', 'ebp', 'bpl'], ['sp', 'rsp', 'esp', 'spl'],
  ...Array.from({ length: 8 }, (_, index) => {
    const register = `r${index + 8}`;
    return [register, register, `${register}d`, `${register}w`, `${register}b`];
  }),
].flatMap(([canonical, ...aliases]) => [canonical!, ...aliases].map((alias) => [alias, canonical!])));

/**
 * One SDT argument (`-4@%edi`, `8@-16(%rbp)`, `4@$5`) as a uprobe fetch argument
 * `argN=…:s32`; '' for what uprobes cannot fetch (floating point). With `asString`, the
 * argument is a pointer whose NUL-terminated text the kernel copies (`ustring`).
 */
export function sdtFetchArg(argument: SdtArgument, index: number, asString = false): string {
  if (argument.float) return '';
  const type = `${argument.signed ? 's' : 'u'}${[1, 2, 4, 8].includes(argument.size) ? argument.size * 8 : 64}`;
  const operand = argument.spec;
  const register = (name: string): string | undefined => {
    const canonical = X86_REGISTERS[name.replace(/^%/, '')];
    return canonical === undefined ? undefined : `%${canonical}`;
  };
  let fetch: string | undefined;
  const immediate = /^\$(-?\d+)$/.exec(operand);
  const memory = /^(-?\d*)\((%\w+)\)$/.exec(operand);
  if (immediate !== null) fetch = `\\${immediate[1]}`;
  else if (memory !== null) {
    const base = register(memory[2]!);
    fetch = base === undefined ? undefined : `${memory[1] === '' ? '+0' : memory[1]!.startsWith('-') ? memory[1] : `+${memory[1]}`}(${base})`;
  } else if (/^%\w+$/.test(operand)) fetch = register(operand);
  else if (/^x\d+$/.test(operand)) fetch = `%${operand}`;
  if (fetch === undefined) throw new TracefsError(`SDT argument '${operand}' cannot be fetched by a uprobe`);
  return asString && immediate === null ? `arg${index}=+0(${fetch}):ustring` : `arg${index}=${fetch}:${type}`;
}
