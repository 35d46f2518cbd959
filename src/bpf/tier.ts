// The kernel tier of a session: decides per handler whether it runs in the kernel (and why
// not), each definition taking the path its kind's row of the probe-source table names
// (src/probes/sources.ts, the kernelTier column); gives its globals their BPF maps, compiles,
// loads and attaches its program, and reads back what the programs count: runs per CPU, and
// runtime errors reported as the VM would.

import { parseHeader, type EventSpec } from '../syntax/headers';
import { DEFAULT_LIMITS, EntryBudget, limitHint } from '../vm/limits';
import { HANDLER_KINDS, INSTRUCTION_WIDTH, OPCODES, Op } from '../vm/opcodes';
import type { Proto } from '../vm/proto';
import type { HandlerBody } from '../vm/runtime';
import { KTable } from '../vm/table';
import type { Cell } from '../vm/translate';
import type { Value } from '../vm/value';
import { NotForKernel, sameKey, type Analysis, type GlobalBinding, type KeyKind } from './analyze';
import { attachRawTracepoint, attachTracepoint, attachUprobe, type Attachment } from './attach';
import { bpfAvailability } from './available';
import { generate, syscallBitmap } from './codegen';
import type { CodegenInput, EventAccess, MapBinding, TableBinding } from './codegen-input';
import { KERNEL_ERRORS } from './codegen-frame';
import { KernelTable, bindScalarCell, keyCodec, unbindScalarCell } from './kernel-table';
import { KernelStacks } from './kernel-stacks';
import { HotKeys, hasHotKeys } from './hot-keys';
import { BpfMap, possibleCpus } from './maps';
import { BpfProgram, VerifierError } from './program';
import { SyscallError } from './sys';
import { TracedProcesses } from './traced-processes';
import { UserError } from '../errors';
import { SYSCALL_NUMBERS_END, syscallsWithEvents } from './syscalls';
import { attachSampler } from './sampler';
import { emitFilter, type FilterFields } from './filter';
import { planFor, type Plan, type RawPlan } from './tier-plan';

export type TierMode = 'auto' | 'kernel' | 'user';

/** The handler kinds the kernel tier may run: trace handlers and profile-N. */
const KERNEL_TIER_KINDS: readonly string[] = ['trace', 'profile'];

/** A handler as the tier sees it. */
export interface TierHandler {
  readonly id: number;
  readonly header: string;
  readonly spec: EventSpec;
  readonly body?: HandlerBody;
}

export interface TierOptions {
  readonly tracefsRoot: string;
  /** --max-table-entries (its default and 0 give maps sizes of their own: mapEntries). */
  readonly maxEntries: number;
  readonly cpu?: number;
  /** -p / -- cmd: threads traced (their children followed). */
  readonly pids?: readonly number[];
  /** --trace-self: count ktap's own events too (by default its process is left out). */
  readonly traceSelf?: boolean;
  /** A kernel address as stack() names it (stack() keys read back). */
  readonly kernelFrame: (address: bigint) => string;
}

/** A handler that cannot run in the kernel under --tier kernel, or a program the kernel refused. */
export class KernelTierError extends UserError {
  constructor(message: string, readonly details: readonly string[] = []) {
    super(message, 'tracing');
  }
}

interface GlobalState {
  readonly id: number;
  readonly name: string;
  readonly cell: Cell;
  readonly kind: 'table' | 'scalar';
  map: BpfMap | null;
  percpu: boolean;
  key: KeyKind | null;
  /** A table of sums: its hot keys in front of its map. */
  hot: HotKeys | null;
  table: KernelTable | null;
  /** Handlers whose programs use the map: when the last is detached, the global leaves the kernel. */
  readonly users: Set<number>;
}

interface Loaded {
  readonly programs: BpfProgram[];
  readonly attachments: Attachment[];
  readonly hits: BpfMap;
  /** Other maps of the programs' own (the system call bitmap). */
  readonly maps: BpfMap[];
  /** profile-N's sampler: an attachment per CPU, one kernel event as the user tier counts it. */
  readonly sampler: boolean;
  /** A raw system call program: the system calls it runs for, each an event as the user tier counts them. */
  syscallEvents?: number;
  /** Lines for -v about how its definitions were resolved and attached. */
  readonly notes: string[];
}

/**
 * Entries of a table's map when --max-table-entries is left at its default. A hash map's
 * buckets are allocated when it is made, whatever it holds: 1,000,000 entries take ~70 ms to
 * make and free here, 65,536 a few ms (docs/kernel-tier.md).
 */
const DEFAULT_MAP_ENTRIES = 65_536;
/** Entries of a table's map under --max-table-entries 0 (no limit in user space). */
const UNLIMITED_MAP_ENTRIES = 1_000_000;
/**
 * Up to this many system calls, a raw program compares the number itself: cheaper than its
 * bitmap's lookup, which touches one more page of kernel memory at every system call.
 */
const COMPARED_SYSCALLS = 4;
/** BPF_F_NO_PREALLOC: a hash map takes memory per entry inserted, not all of it up front. */
const NO_PREALLOC = 1;

export class KernelTier {
  private readonly globals = new Map<Cell, GlobalState>();
  private readonly loaded = new Map<number, Loaded>();
  private readonly errors: BpfMap;
  private traced: TracedProcesses | null = null;
  private stacks: KernelStacks | null = null;
  /** Wall clock minus CLOCK_MONOTONIC, as the user tier's event times are made. */
  private readonly wallOffsetNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  private errorSeen = 0n;
  /**
   * Probe names by attach cookie, for the whole session: handlers on different events that
   * write one table keyed by probename give each name the same key.
   */
  private readonly probeNames: string[] = [];

  private constructor(private readonly options: TierOptions) {
    this.errors = BpfMap.create({ type: 'array', keySize: 4, valueSize: 16, maxEntries: 1, name: 'ktap_errors' });
  }

  /** The tier, or the reason BPF cannot be used on this machine. */
  static open(options: TierOptions): KernelTier | { readonly unavailable: string } {
    const availability = bpfAvailability();
    if (!availability.ok) return { unavailable: availability.reason };
    return new KernelTier(options);
  }

  /**
   * Whether HANDLER can run in the kernel: null when it can, else the first reason (with
   * its line) it cannot. Needs no BPF: -b and -d ask it too.
   */
  static reasonAgainst(handler: TierHandler): string | null {
    try {
      planFor(handler, null, (cell) => bindingKind(cell.v), (_cell, index) => index);
      return null;
    } catch (error) {
      if (error instanceof NotForKernel) return error.message;
      throw error;
    }
  }

  /** Tries HANDLER in the kernel; returns null when attached there, else why it was not. */
  attach(handler: TierHandler): string | null {
    let plan: Plan;
    try {
      plan = planFor(handler, this.options.tracefsRoot, (cell) => this.globals.get(cell)?.kind ?? bindingKind(cell.v), (cell) => this.globalId(cell));
      this.checkSharing(plan);
    } catch (error) {
      if (error instanceof NotForKernel) return error.message;
      throw error;
    }
    try {
      this.loaded.set(handler.id, this.load(handler, plan));
    } catch (error) {
      if (error instanceof SyscallError) throw new KernelTierError(`the kernel refused the handler's program: ${error.message}`);
      throw error;
    }
    return null;
  }

  private readonly ids = new Map<Cell, number>();
  private globalId(cell: Cell): number {
    let id = this.ids.get(cell);
    if (id === undefined) this.ids.set(cell, (id = this.ids.size));
    return id;
  }

  /** A global already in a map must be used the way its map was made for. */
  private checkSharing(plan: Plan): void {
    for (const [id, use] of plan.analysis.tables) {
      const state = [...this.globals.values()].find((global) => global.id === id);
      if (state?.map == null) continue;
      if (use.key !== null && state.key !== null && !sameKey(use.key, state.key)) {
        throw new NotForKernel(plan.analysis.proto.lineDefined, `table ${state.name} already has keys of another kind in the kernel`);
      }
      if (state.percpu && (use.reads || use.assigns)) {
        throw new NotForKernel(plan.analysis.proto.lineDefined, `table ${state.name} is a per-CPU sum in the kernel; reading or assigning it runs in user space`);
      }
    }
  }

  private load(handler: TierHandler, plan: Plan): Loaded {
    const analysis = plan.analysis;
    const tables = new Map<number, TableBinding>();
    const scalars = new Map<number, MapBinding>();
    for (const [upvalue, binding] of analysis.globals.entries()) {
      if (binding === null) continue;
      const cell = handler.body!.cells[upvalue] as Cell;
      const state = this.globalFor(cell, binding, analysis);
      state.users.add(handler.id);
      if (state.kind === 'table') tables.set(state.id, { fd: state.map!.fd, percpu: state.percpu, key: state.key ?? 'int', ...(state.hot === null ? {} : { hotFd: state.hot.map.fd }) });
      else scalars.set(state.id, { fd: state.map!.fd, percpu: state.percpu });
    }
    const hits = BpfMap.create({ type: 'percpuArray', keySize: 4, valueSize: 8, maxEntries: 1, name: 'ktap_hits' });
    const programs: BpfProgram[] = [];
    const attachments: Attachment[] = [];
    const loaded: Loaded = { programs, attachments, hits, maps: [], sampler: plan.sampler !== null, notes: [...(plan.notes ?? [])] };
    const traced = this.options.pids === undefined ? undefined : this.tracedProcesses().set.fd;
    try {
      const compile = (access: EventAccess, syscalls?: CodegenInput['syscalls']): BpfProgram => {
        const filter = plan.filter;
        const generated = generate({
          analysis,
          // (profile-N and uprobes have no filter.)
          ...(filter === null || access.kind === 'sample' || access.kind === 'uprobe' ? {} : { filter: (asm, context, skip) => emitFilter(asm, filter, filterFieldsOf(access), context, skip) }),
          tables,
          scalars,
          access,
          hitsFd: hits.fd,
          errorsFd: this.errors.fd,
          handlerId: handler.id,
          wallOffsetNs: this.wallOffsetNs,
          ...(this.options.cpu === undefined ? {} : { cpu: this.options.cpu }),
          ...(traced === undefined ? {} : { tracedFd: traced }),
          ...(traced !== undefined || this.options.traceSelf === true ? {} : { excludeTgid: process.pid }),
          ...(syscalls === undefined ? {} : { syscalls }),
          ...(analysis.kernelStackLine === null ? {} : { stackMapFd: this.kernelStacks().map.fd, stackDroppedFd: this.kernelStacks().dropped.fd }),
        });
        try {
          const type = ({ record: 'tracepoint', sample: 'perfEvent', uprobe: 'kprobe', rawSysEnter: 'rawTracepoint', rawSysExit: 'rawTracepoint' } as const)[access.kind];
          const program = BpfProgram.load({ type, code: generated.code, name: 'ktap_handler' });
          programs.push(program);
          return program;
        } catch (error) {
          if (!(error instanceof VerifierError)) throw error;
          const line = error.slot >= 0 ? generated.lines[error.slot] : undefined;
          throw new KernelTierError(`${line === undefined ? '' : `line ${line}: `}the kernel's verifier refused the handler (${error.errno})`, error.lastLines());
        }
      };
      if (plan.sampler !== null) {
        // probename of a sample is the handler's header, as in the user tier.
        const cookie = BigInt(this.cookieOf(handler.header));
        const cpus = this.options.cpu === undefined ? undefined : [this.options.cpu];
        attachments.push(...attachSampler(compile({ kind: 'sample' }), plan.sampler.hz, cpus, cookie));
      } else if (plan.uprobes !== null) {
        // One program for entries, one for returns; an attachment per address, the probe name as cookie.
        const programs = new Map<boolean, BpfProgram>();
        for (const target of plan.uprobes) {
          let program = programs.get(target.isReturn);
          if (program === undefined) programs.set(target.isReturn, (program = compile({ kind: 'uprobe', isReturn: target.isReturn })));
          attachments.push(attachUprobe(program, target.path, target.offset, target.isReturn, BigInt(this.cookieOf(target.event))));
        }
      } else if (plan.raw !== null) {
        attachments.push(attachRawTracepoint(compile({ kind: plan.raw.access }, this.syscallSet(plan.raw, loaded, handler.header)), plan.raw.name));
      } else {
        // One program per distinct field layout; the probe name travels as the attach cookie.
        const byLayout = new Map<string, BpfProgram>();
        for (const event of plan.events) {
          // A filter names fields: events whose fields lie alike but are named otherwise need programs of their own.
          const signature = JSON.stringify(event.fields.map((field) => [field.offset, field.size, field.signed, field.kind, plan.filter === null ? '' : field.name]));
          let program = byLayout.get(signature);
          if (program === undefined) byLayout.set(signature, (program = compile({ kind: 'record', fields: event.fields })));
          attachments.push(attachTracepoint(program, this.options.tracefsRoot, event.tracepoint.system, event.tracepoint.event, BigInt(this.cookieOf(event.tracepoint.event))));
        }
      }
    } catch (error) {
      this.unload(loaded);
      throw error;
    }
    return loaded;
  }

  /** How a raw program picks its system calls: a few compared in its code, more in a bitmap map of its own. */
  private syscallSet(raw: RawPlan, loaded: Loaded, header: string): NonNullable<CodegenInput['syscalls']> {
    const numbers = this.syscallsOf(raw);
    loaded.syscallEvents = numbers.length;
    const how = numbers.length <= COMPARED_SYSCALLS ? 'compared by the program' : 'in a bitmap map';
    loaded.notes.push(`${header}: on the raw ${raw.name} tracepoint: ${numbers.length} system call${numbers.length === 1 ? '' : 's'}, ${how}`);
    if (numbers.length <= COMPARED_SYSCALLS) return { numbers };
    const bitmap = BpfMap.create({ type: 'array', keySize: 4, valueSize: SYSCALL_NUMBERS_END / 8, maxEntries: 1, name: 'ktap_syscalls' });
    loaded.maps.push(bitmap);
    bitmap.update(Buffer.alloc(4), syscallBitmap(numbers));
    return { bitmapFd: bitmap.fd };
  }

  /** The system call numbers a raw program runs for: the handler's, or for the whole glob those with events here. */
  private syscallsOf(raw: RawPlan): readonly number[] {
    return raw.ids !== 'all' ? raw.ids : syscallsWithEvents(this.options.tracefsRoot, raw.name === 'sys_enter' ? 'sys_enter_' : 'sys_exit_');
  }

  /** The map of a global, created on first use, its table or cell now reading the map. */
  private globalFor(cell: Cell, binding: NonNullable<GlobalBinding>, analysis: Analysis): GlobalState {
    let state = this.globals.get(cell);
    if (state === undefined) {
      state = { id: binding.id, name: binding.name, cell, kind: binding.kind, map: null, percpu: false, key: null, hot: null, table: null, users: new Set() };
      this.globals.set(cell, state);
    }
    if (state.map !== null) return state;
    if (state.kind === 'scalar') {
      const use = analysis.scalars.get(state.id);
      state.percpu = use !== undefined && !use.reads && !use.assigns;
      state.map = BpfMap.create({ type: state.percpu ? 'percpuArray' : 'array', keySize: 4, valueSize: 16, maxEntries: 1, name: `ktap_${state.name}` });
      bindScalarCell(cell, state.map, state.name);
      return state;
    }
    const use = analysis.tables.get(state.id);
    state.key = use?.key ?? 'int';
    state.percpu = use !== undefined && !use.reads && !use.assigns;
    const codec = keyCodec(state.key, this.probeNames, () => this.kernelStacks());
    state.map = BpfMap.create({ type: state.percpu ? 'percpuHash' : 'hash', keySize: codec.size, valueSize: 8, maxEntries: this.mapEntries(), flags: NO_PREALLOC, name: `ktap_${state.name}` });
    state.hot = state.percpu && hasHotKeys(codec.size) ? new HotKeys(codec.size, `ktap_hot_${state.name}`) : null;
    const previous = cell.v as KTable;
    // Its entries are bounded by its map: mirroring them in user space is not charged to the
    // script's budget (where they would overflow before the map is full).
    const table = new KernelTable(new EntryBudget(0), state.map, codec, state.name, state.hot);
    table.adopt(previous.entries());
    state.table = table;
    cell.v = table;
    return state;
  }

  /** Entries of a table's map: --max-table-entries when the user set it, else DEFAULT_MAP_ENTRIES. */
  private mapEntries(): number {
    const limit = this.options.maxEntries;
    if (limit === 0) return UNLIMITED_MAP_ENTRIES;
    return limit === DEFAULT_LIMITS.maxTableEntries ? DEFAULT_MAP_ENTRIES : limit;
  }

  /** The attach cookie of probe NAME: its index in probeNames (added when new). */
  private cookieOf(name: string): number {
    const known = this.probeNames.indexOf(name);
    return known >= 0 ? known : this.probeNames.push(name) - 1;
  }

  /** The stack map of stack() keys, made when the first program needs it. */
  private kernelStacks(): KernelStacks {
    return (this.stacks ??= new KernelStacks(this.mapEntries(), this.options.kernelFrame));
  }

  /** -p / -- cmd: the traced processes, made when the first program needs them. */
  private tracedProcesses(): TracedProcesses {
    return (this.traced ??= new TracedProcesses(this.options.tracefsRoot, this.options.pids ?? []));
  }

  /** Lines for -v about how HANDLER's definitions were resolved (uprobe aliases folded). */
  notesOf(handler: TierHandler): readonly string[] {
    return this.loaded.get(handler.id)?.notes ?? [];
  }

  has(handler: TierHandler): boolean {
    return this.loaded.has(handler.id);
  }

  /** Kernel events HANDLER runs for, as the user tier counts them: a raw tracepoint's system calls, a sampler as one. */
  eventsOf(handler: TierHandler): number {
    const loaded = this.loaded.get(handler.id);
    return loaded === undefined ? 0 : loaded.sampler ? 1 : loaded.syscallEvents ?? loaded.attachments.length;
  }

  /** Runs of HANDLER's program per CPU. */
  hitsPerCpu(handler: TierHandler): number[] {
    const loaded = this.loaded.get(handler.id);
    if (loaded === undefined) return [];
    const value = loaded.hits.lookup(Buffer.alloc(4));
    if (value === undefined) return [];
    return Array.from({ length: possibleCpus() }, (_, cpu) => Number(value.readBigUInt64LE(cpu * loaded.hits.cpuStride)));
  }

  /** Runs of HANDLER's program on every CPU. */
  runs(handler: TierHandler): number {
    return this.hitsPerCpu(handler).reduce((sum, count) => sum + count, 0);
  }

  private readonly errorKey = Buffer.alloc(4);
  private readonly errorValue = Buffer.alloc(16);

  /**
   * The first runtime error the programs counted since the last call, as the VM words it.
   * Called every poll while programs run: one lookup into buffers kept for it.
   */
  takeError(): { message: string; limit?: string; handlerId: number; line: number; count: bigint } | null {
    const value = this.errorValue;
    if (!this.errors.lookupInto(this.errorKey, value)) return null;
    const count = value.readBigUInt64LE(0);
    if (count === this.errorSeen) return null;
    this.errorSeen = count;
    const first = value.readBigUInt64LE(8);
    // Cleared, so that a later error (in the REPL, of another handler) is seen first again.
    this.errors.update(Buffer.alloc(4), Buffer.alloc(16));
    this.errorSeen = 0n;
    const code = Number(first >> 56n);
    return {
      message: KERNEL_ERRORS[code] ?? 'error in the kernel tier',
      // A full map, worded as the user tier's budget is: the option that sizes the maps.
      ...(KERNEL_ERRORS[code] === 'table overflow' ? { limit: limitHint('maxTableEntries', this.mapEntries()) } : {}),
      handlerId: Number((first >> 32n) & 0xffffffn),
      line: Number(first & 0xffffffffn),
      count,
    };
  }

  detach(handler: TierHandler): void {
    const loaded = this.loaded.get(handler.id);
    if (loaded === undefined) return;
    this.loaded.delete(handler.id);
    this.unload(loaded);
    // A global no program uses any more is an ordinary table or variable again (its last
    // entries kept): a handler that stays in user space may write it after all.
    for (const state of this.globals.values()) {
      if (state.users.delete(handler.id) && state.users.size === 0) this.release(state);
    }
  }

  private release(state: GlobalState): void {
    if (state.map === null) return;
    if (state.table !== null) state.table.freeze();
    else unbindScalarCell(state.cell);
    state.map.close();
    state.hot?.close();
    state.map = null;
    state.hot = null;
    state.table = null;
  }

  /** Stops every program (the maps stay readable until close()). */
  stop(): void {
    for (const loaded of this.loaded.values()) for (const attachment of loaded.attachments) attachment.detach();
  }

  private unload(loaded: Loaded): void {
    for (const attachment of loaded.attachments) attachment.detach();
    for (const program of loaded.programs) program.close();
    loaded.hits.close();
    for (const map of loaded.maps) map.close();
  }

  /** Detaches everything; tables keep their last entries as ordinary tables. */
  /** Profile samples skipped because the stack map could not hold their stack, and its size. */
  droppedStacks(): { samples: number; entries: number } {
    return { samples: this.stacks?.droppedCount() ?? 0, entries: this.mapEntries() };
  }

  close(): void {
    for (const loaded of this.loaded.values()) this.unload(loaded);
    this.loaded.clear();
    this.traced?.close();
    this.traced = null;
    for (const state of this.globals.values()) this.release(state);
    // After the tables' last reading, which names their stacks.
    this.stacks?.close();
    this.stacks = null;
    this.errors.close();
  }
}

function filterFieldsOf(access: Exclude<EventAccess, { kind: 'sample' | 'uprobe' }>): FilterFields {
  return access.kind === 'record' ? { kind: 'record', fields: access.fields } : { kind: access.kind };
}

function bindingKind(value: Value): 'table' | 'scalar' | null {
  if (value instanceof KTable) return 'table';
  if (value === undefined || typeof value === 'number' || typeof value === 'bigint') return 'scalar';
  return null;
}

/**
 * For -b: which tier each trace and profile handler of a script would run in, judged from the bytecode
 * alone (a global that main fills with a new table is a table, any other a number).
 */
export function listingTiers(main: Proto): string {
  const code = main.code;
  const tableCells = new Set<number>();
  const handlers: TierHandler[] = [];
  const newTables = new Set<number>();
  for (let pc = 0; pc < main.lines.length; pc++) {
    const base = pc * INSTRUCTION_WIDTH;
    const op = code[base]!;
    const a = code[base + 1]!;
    if (op === Op.NEWTABLE) newTables.add(a);
    else if (op === Op.SETCELL && newTables.has(code[base + 2]!)) tableCells.add(a);
    else if (op === Op.REGISTER && KERNEL_TIER_KINDS.includes(HANDLER_KINDS[code[base + 3]!]!) && pc > 0 && code[base - INSTRUCTION_WIDTH] === Op.CLOSURE) {
      const proto = main.protos[code[base - INSTRUCTION_WIDTH + 2]!]!;
      const cells = proto.upvalues.map((upvalue) => ({
        v: upvalue.from === 'cell' && tableCells.has(upvalue.index) ? new KTable(new EntryBudget(0)) : undefined,
      }));
      const header = main.constants[code[base + 2]!] as string;
      const kind = HANDLER_KINDS[code[base + 3]!] as 'trace' | 'profile';
      const spec = parseHeader(kind, header);
      if (typeof spec !== 'string') handlers.push({ id: handlers.length, header: kind === 'trace' ? `trace ${header}` : header, spec, body: { proto, cells } });
    } else if (OPCODES[op]!.operands[0] === 'R') newTables.delete(a);
  }
  if (handlers.length === 0) return '';
  const lines = handlers.map((handler) => {
    const reason = KernelTier.reasonAgainst(handler);
    return `  ${handler.header}: ${reason === null ? 'kernel tier (eBPF)' : `user tier (${reason})`}`;
  });
  return `\ntiers (--tier auto):\n${lines.join('\n')}\n`;
}
