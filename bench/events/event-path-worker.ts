// One variant of the event-path benchmark (bench/events/event-path.mjs bundles and runs it):
// the recorded pages of test/fixtures/ringbuf replayed through ktap's live classes, no kernel.
//
// What runs is the shipped code: a real Session compiles and runs the script, its handlers
// are attached by Session.attachPending → KernelEvents.attach (route table, task tracking,
// enabling), and records reach KernelEvents.deliver → TraceEvent.set → Session.dispatchEvent → runCode →
// Runtime.run of the translated handler. Only KernelTracer is replaced (its static `open` is
// patched before the session attaches): instead of a tracefs instance it serves the fixture
// format files, resolves globs against them with the real selectTracepoints, and hands
// `deliver` to the benchmark. Records come from a real RingReader reading the pages from
// regular files in tmpfs (the stand-in for per_cpu/cpuN/trace_pipe_raw, same read(2) per
// page) or, in the `pages` variant, from a PageCursor over the pages in memory.
//
//   node BUNDLE --variant NAME --fixtures DIR --formats DIR [--seconds N]
//
// Prints one JSON line: {variant, events, seconds, perSecond, nsPerEvent, checked}.

import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readField, recordEventId, recordPid } from '../../src/probes/fields';
import { parseEventFormat, type EventLayout } from '../../src/probes/format';
import { RingReader, type RecordHandler } from '../../src/probes/reader';
import { selectTracepoints, type Tracepoint, type TracepointDefinition } from '../../src/probes/resolve';
import { PageCursor } from '../../src/probes/ringbuf';
import { KernelTracer } from '../../src/probes/tracer';
import { Session } from '../../src/session/session';
import { DEFAULT_LIMITS } from '../../src/vm/limits';
import { finishPage } from '../../test/probes/pages';

const SCRIPTS: Record<string, string> = {
  // s[execname] += 1 for every event; trace_end prints the total, which must equal the
  // number of records delivered.
  count: 'var s = {} trace *:* { s[execname] += 1 } ' +
    'trace_end { var n = 0 for (k, v in pairs(s)) { n += v } print(n) }',
  // The same dispatch with a handler that does nothing: what the VM's work costs.
  empty: 'trace *:* { }',
  // Every event rendered as text (the timing the argstr unit test used to assert).
  argstr: 'var n = 0 trace *:* { n += len(argstr) }',
};

interface Variant {
  readonly what: string;
  readonly script: string | null;
  readonly source: 'reader' | 'pages';
}

const VARIANTS: Record<string, Variant> = {
  full: { what: 'reader → deliver → s[execname] += 1', script: 'count', source: 'reader' },
  pages: { what: 'pages in memory → deliver → s[execname] += 1', script: 'count', source: 'pages' },
  empty: { what: 'reader → deliver → empty handler', script: 'empty', source: 'reader' },
  reader: { what: 'reader only (no-op deliver)', script: null, source: 'reader' },
  argstr: { what: 'reader → deliver → n += len(argstr)', script: 'argstr', source: 'reader' },
};

// How many times the recorded pages are repeated in each CPU's file: one pass reads
// 2 CPUs × REPEAT × pages, i.e. about 220,000 records, in pumps of 256 pages per CPU.
const REPEAT = 200;
const CPUS = [0, 1];

function option(name: string, fallback?: string): string {
  const index = process.argv.indexOf(name);
  if (index > 0 && index + 1 < process.argv.length) return process.argv[index + 1]!;
  if (fallback === undefined) throw new Error(`missing ${name}`);
  return fallback;
}

const variantName = option('--variant');
const variant = VARIANTS[variantName];
if (variant === undefined) throw new Error(`unknown variant ${variantName}`);
const fixtures = option('--fixtures');
const extraFormats = option('--formats');
const seconds = Number(option('--seconds', '2'));

// ---- the recorded pages and formats ------------------------------------------------------

const pages = readdirSync(fixtures).filter((file) => file.endsWith('.bin')).sort()
  .map((file) => readFileSync(join(fixtures, file)));
const fixtureLayouts = readdirSync(join(fixtures, 'formats')).map((file) => readLayout(join(fixtures, 'formats', file), file));
// task_newtask and task_rename (recorded from the same kernel): KernelEvents always routes
// them for its task bookkeeping; they are not in the pages, so they are never delivered.
const bookkeepingLayouts = readdirSync(extraFormats).filter((file) => file.endsWith('.format'))
  .map((file) => readLayout(join(extraFormats, file), file));

function readLayout(path: string, file: string): EventLayout {
  return parseEventFormat(readFileSync(path, 'latin1'), file.split('.')[0]!);
}

const layoutsByName = new Map<string, EventLayout>();
for (const layout of [...fixtureLayouts, ...bookkeepingLayouts]) {
  const key = `${layout.system}/${layout.name}`;
  for (const other of layoutsByName.values()) {
    if (other.id === layout.id) throw new Error(`event id ${layout.id} of ${key} is also ${other.system}/${other.name}`);
  }
  layoutsByName.set(key, layout);
}
// What `*:*` resolves to: the events the pages were recorded with.
const available: Tracepoint[] = fixtureLayouts.map((layout) => ({ system: layout.system, event: layout.name }))
  .sort((left, right) => `${left.system}:${left.event}`.localeCompare(`${right.system}:${right.event}`));

// ---- the stand-in for KernelTracer ---------------------------------------------------------

let captured: RecordHandler | null = null;
let reader: RingReader | null = null;

const fakeTracer = {
  instance: { read: (): string => '' },
  resolve: (definitions: readonly TracepointDefinition[]): Tracepoint[] => selectTracepoints(available, definitions),
  layout(tracepoint: Tracepoint): EventLayout {
    const layout = layoutsByName.get(`${tracepoint.system}/${tracepoint.event}`);
    if (layout === undefined) throw new Error(`no format for ${tracepoint.system}:${tracepoint.event}`);
    return layout;
  },
  setFilter(): void {},
  *enable(): Generator<void, void> {},
  enabledEvents: [],
  disable(): void {},
  start(deliver: RecordHandler): void {
    captured = deliver;
  },
  pump: (): number => 0,
  stop(): void {},
  drain: (): Map<number, number> => new Map(),
  get timeBase(): bigint {
    return reader === null ? 0n : reader.timeBase;
  },
  clockToMonotonicNs: 0n,
  lostPerCpu: (): Map<number, number> => new Map(),
  bufferStats: (): [] => [],
  close(): void {},
};
(KernelTracer as unknown as { open: () => unknown }).open = () => fakeTracer;

// ---- the session -------------------------------------------------------------------------

const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ktap-bench-events-'));
let exitCode = 0;
try {
  const outputPath = join(work, 'output');
  const outputFd = openSync(outputPath, 'w');
  const session = new Session({
    limits: { ...DEFAULT_LIMITS },
    outputFd,
    json: false,
    quiet: true,
    verbose: false,
    dryRun: false,
    scriptName: '(command line)',
    scriptArgs: [],
  });
  let deliver: RecordHandler;
  if (variant.script === null) {
    let sink = 0;
    deliver = (record) => {
      sink += record.length;
    };
    process.on('exit', () => sink);
  } else {
    const { main } = session.compileScript(SCRIPTS[variant.script]!, '(command line)');
    if (session.runCode(main) !== 'ok') throw new Error('the script failed');
    session.attachPending();
    if (captured === null) throw new Error('KernelEvents did not start the tracer');
    deliver = captured;
    seedTasks(session);
  }

  // Each CPU's "trace_pipe_raw": the recorded pages repeated, each finished as the kernel
  // finishes a page it moves on from (the reader stops at a page still being written); an
  // empty `stats`: these pumps read everything there is.
  const finished = pages.map((page) => finishPage(Buffer.from(page)));
  for (const cpu of CPUS) {
    mkdirSync(join(work, 'per_cpu', `cpu${cpu}`), { recursive: true });
    writeFileSync(join(work, 'per_cpu', `cpu${cpu}`, 'trace_pipe_raw'), Buffer.concat(Array.from({ length: REPEAT }, () => finished).flat()));
    writeFileSync(join(work, 'per_cpu', `cpu${cpu}`, 'stats'), 'bytes: 0\n');
  }
  const recordsPerPass = countRecords() * REPEAT * CPUS.length;
  const cursor = new PageCursor();
  const pass: () => number = variant.source === 'reader'
    ? () => {
      reader = new RingReader(work, CPUS, 4096);
      reader.open();
      let pumped = 0;
      while (reader.pump(deliver) > 0 || reader.pending) pumped++;
      reader.close();
      return pumped;
    }
    : () => {
      for (let repeat = 0; repeat < REPEAT; repeat++) {
        for (const cpu of CPUS) {
          for (const page of pages) {
            cursor.reset(page);
            while (cursor.next()) deliver(cursor, cpu, cursor.timestampOffset);
          }
        }
      }
      return 1;
    };

  // Warm up (the JIT reaches its optimised tiers), then measure whole passes.
  const warmUntil = process.hrtime.bigint() + 500_000_000n;
  let passes = 0;
  while (process.hrtime.bigint() < warmUntil) {
    pass();
    passes++;
  }
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let measured = 0;
  let now = start;
  while (now < deadline) {
    pass();
    measured++;
    now = process.hrtime.bigint();
  }
  passes += measured;
  const elapsed = Number(now - start) / 1e9;
  const events = measured * recordsPerPass;

  // Every record must have been routed (KernelEvents' own per-route counts) and,
  // for the counting script, been counted by it (its trace_end prints the total).
  let checked: boolean | null = null;
  if (variant.script !== null) {
    const expected = passes * recordsPerPass;
    const delivered = routedRecords(session);
    checked = delivered === undefined || delivered === expected;
    if (!checked) process.stderr.write(`${delivered} records routed to handlers, ${expected} expected\n`);
    if (variant.script === 'count') {
      session.runEndHandlers();
      session.writer.flush();
      const printed = readFileSync(outputPath, 'latin1').trim();
      if (printed !== String(expected)) {
        checked = false;
        process.stderr.write(`the script counted ${printed}, ${expected} records were delivered\n`);
      }
    }
    if (!checked) exitCode = 1;
  }
  session.close();
  closeSync(outputFd);
  process.stdout.write(JSON.stringify({
    variant: variantName,
    what: variant.what,
    events,
    seconds: elapsed,
    perSecond: events / elapsed,
    nsPerEvent: (elapsed * 1e9) / events,
    recordsPerPass,
    checked,
  }) + '\n');
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exitCode = exitCode;

/** Records in the recorded pages (one pass over them). */
function countRecords(): number {
  const cursor = new PageCursor();
  let records = 0;
  for (const page of pages) {
    cursor.reset(page);
    while (cursor.next()) records++;
  }
  return records;
}

/**
 * The recorded tasks are gone: name them from the sched_switch records of the pages (as
 * task_newtask would have), and the rest `task-TID`, so that execname never reads /proc of
 * unrelated live processes.
 */
function seedTasks(session: Session): void {
  const tasks = session.kernel!.tasks;
  const names = new Map<number, string>();
  const byId = new Map([...layoutsByName.values()].map((layout) => [layout.id, layout]));
  const cursor = new PageCursor();
  for (const page of pages) {
    cursor.reset(page);
    while (cursor.next()) {
      const layout = byId.get(recordEventId(cursor, cursor.offset));
      const tid = recordPid(cursor, cursor.offset);
      if (layout?.name === 'sched_switch') {
        const field = (name: string): unknown => readField(cursor, cursor.offset, cursor.length, layout.fields.find((f) => f.name === name)!);
        names.set(field('prev_pid') as number, field('prev_comm') as string);
        names.set(field('next_pid') as number, field('next_comm') as string);
      }
      if (!names.has(tid)) names.set(tid, `task-${tid}`);
    }
  }
  for (const [tid, comm] of names) if (tid !== 0) tasks.taskCreated(0, tid, comm, 0);
}

/** Records KernelEvents routed to handlers (the sum of its per-event counts), if it keeps them. */
function routedRecords(session: Session): number | undefined {
  const routes = (session.kernel as unknown as { routes?: Array<{ count?: number } | undefined> }).routes;
  if (!Array.isArray(routes)) return undefined;
  let sum = 0;
  for (const route of routes) if (typeof route?.count === 'number') sum += route.count;
  return sum;
}
