// argstr on this machine's kernel: the print fmt of every event format (how many render), and
// records of a private instance rendered here from trace_pipe_raw against its `trace` text.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import {
  btfEnumValues, compileArgstr, compilePrintFormat, PrintFormatError, type ArgstrOptions, type ArgstrRenderer,
} from '../../src/probes/argstr';
import { recordEventId, type PageBytes } from '../../src/probes/fields';
import { parseEventFormat, type EventLayout } from '../../src/probes/format';
import { KernelSymbols } from '../../src/probes/kallsyms';
import { RingReader } from '../../src/probes/reader';

const TRACEFS = '/sys/kernel/tracing';
const BTF = '/sys/kernel/btf/vmlinux';
const INSTANCE = join(TRACEFS, 'instances', `ktap-argstr-${process.pid}`);
const PAGE_SIZE = 4096;
const usable = process.getuid?.() === 0 && existsSync(join(TRACEFS, 'instances'));
const skip = usable ? false : 'needs root and tracefs';

/** Enum constants for print fmts, from the kernel's BTF when it has one. */
const enumValue: ArgstrOptions['enumValue'] = existsSync(BTF)
  ? ((enums) => (name: string) => enums.get(name))(btfEnumValues(readFileSync(BTF)))
  : undefined;

/** Every format file under `events/`, parsed. */
function eventLayouts(root: string): EventLayout[] {
  const layouts: EventLayout[] = [];
  for (const system of readdirSync(join(root, 'events'))) {
    const directory = join(root, 'events', system);
    if (!existsSync(join(directory, 'enable'))) continue;
    for (const event of readdirSync(directory)) {
      const file = join(directory, event, 'format');
      if (existsSync(file)) layouts.push(parseEventFormat(readFileSync(file, 'latin1'), system));
    }
  }
  return layouts;
}

/** A record of random bytes whose `__data_loc`/`__rel_loc` fields locate 16 bytes each. */
function randomRecord(layout: EventLayout): { bytes: PageBytes; length: number } {
  const page = randomFillSync(Buffer.alloc(PAGE_SIZE));
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  let length = layout.fields.reduce((end, field) => Math.max(end, field.offset + field.size), 8);
  for (const field of layout.fields) {
    if (!/^__(data|rel)_loc/.test(field.type)) continue;
    const base = field.type.startsWith('__rel') ? field.offset + field.size : 0;
    view.setUint32(field.offset, (16 << 16) | (length - base), true);
    length += 16;
  }
  return { bytes: { page, view }, length };
}

t.test('the print fmt of every event on this machine', { skip }, async (t) => {
  const layouts = eventLayouts(TRACEFS);
  let syscalls = 0;
  const rendered = { withEnums: 0, without: 0 };
  const reasons = new Map<string, string[]>();
  const failures = new Map<string, string>();
  for (const layout of layouts) {
    const name = `${layout.system}:${layout.name}`;
    if (layout.system === 'syscalls') {
      syscalls++;
      continue;
    }
    try {
      compilePrintFormat(layout);
      rendered.without++;
    } catch (error) {
      if (!(error instanceof PrintFormatError)) throw error;
    }
    let renderer: ArgstrRenderer;
    try {
      renderer = compilePrintFormat(layout, { enumValue });
      rendered.withEnums++;
    } catch (error) {
      if (!(error instanceof PrintFormatError)) {
        t.fail(`${name}: ${(error as Error).stack}`);
        continue;
      }
      failures.set(name, error.message);
      reasons.set(error.message, [...(reasons.get(error.message) ?? []), name]);
      continue;
    }
    const { bytes, length } = randomRecord(layout);
    try {
      renderer(bytes, 0, length);
    } catch (error) {
      t.fail(`${name} throws on a random record: ${(error as Error).stack}`);
    }
  }
  const printFormats = layouts.length - syscalls;
  const percent = (count: number): string => `${((100 * count) / printFormats).toFixed(1)}%`;
  t.comment(`${layouts.length} events: ${syscalls} syscalls (own printers), ${printFormats} print fmts`);
  t.comment(`print fmts rendered: ${rendered.withEnums} (${percent(rendered.withEnums)}) with BTF enums, `
    + `${rendered.without} (${percent(rendered.without)}) without; field list: ${printFormats - rendered.withEnums}`);
  for (const [reason, events] of [...reasons].sort((a, b) => b[1].length - a[1].length)) {
    t.comment(`  ${events.length} × ${reason}: ${events.slice(0, 3).join(' ')}${events.length > 3 ? ' …' : ''}`);
  }
  t.ok(rendered.without / printFormats > 0.9, 'the large majority renders even without enum values');
  if (!enumValue) return;
  t.ok(rendered.withEnums / printFormats > 0.97, 'nearly all render with enum values');
  // Only the events printing the age from `jiffies` (the time of reading) cannot render.
  const common = ['sched', 'irq', 'timer', 'block', 'net', 'skb', 'sock', 'tcp', 'udp', 'napi', 'signal', 'workqueue', 'writeback', 'task'];
  const commonFailures = [...failures].filter(([name, reason]) => common.includes(name.split(':')[0]!) && reason !== "unknown name 'jiffies'");
  t.same(commonFailures, [], 'the common systems render');
});

function write(file: string, text: string): void {
  writeFileSync(join(INSTANCE, file), text);
}

/** Some file, process, signal and TCP activity, so that the systems traced have events. */
async function workload(): Promise<void> {
  const file = join('/tmp', `ktap-argstr-${process.pid}`);
  writeFileSync(file, 'x'.repeat(65536));
  spawnSync('/bin/sh', ['-c', `sync ${file}; cat ${file} > /dev/null; rm -f ${file}; ls / > /dev/null; sleep 0.05`]);
  spawnSync('/bin/sh', ['-c', 'kill -USR1 $$ 2>/dev/null; true']);
  const server = createServer((socket) => socket.end('pong'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  for (let round = 0; round < 3; round++) {
    const socket = connect(port, '127.0.0.1');
    socket.write('ping');
    socket.resume();
    await once(socket, 'close');
  }
  server.close();
  await new Promise((resolve) => setTimeout(resolve, 100));
}

interface TextRecord {
  cpu: number;
  timestamp: string;
  text: string;
}

/** The `trace` file's records: CPU, timestamp and the text after the header (continuation lines included). */
function parseTrace(text: string): TextRecord[] {
  const records: TextRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const match = /^\s*.+?-\d+\s+\[(\d+)\]\s+\S+\s+(\d+\.\d+): (.*)$/.exec(line);
    if (match) records.push({ cpu: Number(match[1]), timestamp: match[2]!, text: match[3]! });
    else if (records.length > 0) records[records.length - 1]!.text += '\n' + line;
  }
  return records;
}

/** The trace file's timestamp: nanoseconds rounded to microseconds (ns2usecs), as `S.UUUUUU`. */
function traceTimestamp(nanoseconds: bigint): string {
  const microseconds = (nanoseconds + 500n) / 1000n;
  return `${microseconds / 1000000n}.${String(microseconds % 1000000n).padStart(6, '0')}`;
}

/** What the trace file shows that argstr deliberately does not, made equal on both sides. */
function comparable(event: string, printFmt: string, text: string): string {
  // 6.18 prints syscall arguments below 10 in decimal and others with `0x`, where SPEC §4.11
  // (like earlier kernels) wants bare hex; below 10 both are the same digit.
  if (event.startsWith('syscalls:sys_enter_')) text = text.replace(/(: )0x([0-9a-f]+)(?=, |\)$)/g, '$1$2');
  // The trace file hashes plain %p (trace option hash-ptr); argstr prints the address.
  if (/%p(?![A-Za-z0-9])/.test(printFmt)) text = text.replace(/\b[0-9a-f]{16}\b/g, 'POINTER');
  return text;
}

// Systems whose events fire on their own or under the workload.
const SYSTEMS = [
  'sched', 'irq', 'timer', 'workqueue', 'signal', 'raw_syscalls', 'syscalls', 'block', 'writeback',
  'net', 'skb', 'sock', 'tcp', 'napi', 'task', 'kmem', 'ipi', 'rcu',
];

/** Stops and removes the instance; safe to call on every way out, more than once. */
function removeInstance(): void {
  if (!existsSync(INSTANCE)) return;
  try {
    write('tracing_on', '0');
    write('events/enable', '0');
  } finally {
    rmdirSync(INSTANCE);
  }
}

/** On a signal (a tap timeout sends SIGTERM), the instance goes before the process does. */
function removeInstanceAndDie(signal: NodeJS.Signals): void {
  removeInstance();
  process.kill(process.pid, signal);
}

t.test('argstr renders recorded events as the trace file does', { skip }, async (t) => {
  mkdirSync(INSTANCE);
  process.once('exit', removeInstance);
  process.once('SIGINT', removeInstanceAndDie);
  process.once('SIGTERM', removeInstanceAndDie);
  t.teardown(() => {
    process.off('SIGINT', removeInstanceAndDie);
    process.off('SIGTERM', removeInstanceAndDie);
    removeInstance();
  });
  write('buffer_size_kb', '8192');
  const systems = SYSTEMS.filter((system) => existsSync(join(INSTANCE, 'events', system)));
  for (const system of systems) write(join('events', system, 'enable'), '1');
  await workload();
  write('tracing_on', '0');

  const textRecords = parseTrace(readFileSync(join(INSTANCE, 'trace'), 'latin1'));
  t.notOk(textRecords.some((record) => /LOST \d+ EVENTS/.test(record.text)), 'no events lost');

  const symbols = KernelSymbols.load();
  const options: ArgstrOptions = { kernelSymbol: (address) => symbols.lookup(address), enumValue };
  // Events rendering through the field list differ from the trace file by design: not compared.
  const events = new Map<number, { name: string; printFmt: string; render?: ArgstrRenderer }>();
  for (const layout of eventLayouts(INSTANCE).filter((candidate) => systems.includes(candidate.system))) {
    let printable = true;
    if (layout.system !== 'syscalls') {
      try {
        compilePrintFormat(layout, options);
      } catch (error) {
        if (!(error instanceof PrintFormatError)) throw error;
        printable = false;
      }
    }
    const render = printable ? compileArgstr(layout, options) : undefined;
    events.set(layout.id, { name: `${layout.system}:${layout.name}`, printFmt: layout.printFmt, render });
  }

  const cpus = readdirSync(join(INSTANCE, 'per_cpu')).filter((name) => /^cpu\d+$/.test(name)).map((name) => Number(name.slice(3)));
  // The trace file merges CPUs by time; each CPU's records keep the buffer's order.
  const expected = new Map(cpus.map((cpu) => [cpu, textRecords.filter((record) => record.cpu === cpu)]));
  const read = new Map(cpus.map((cpu) => [cpu, 0]));
  const compared = new Map<string, number>();
  const mismatches: string[] = [];
  let skipped = 0;
  const reader = new RingReader(INSTANCE, cpus, PAGE_SIZE);
  reader.open();
  try {
    while (reader.pump((cursor, cpu) => {
      const index = read.get(cpu)!;
      read.set(cpu, index + 1);
      const record = expected.get(cpu)![index];
      if (!record || record.timestamp !== traceTimestamp(cursor.timestamp)) {
        mismatches.push(`cpu${cpu} record ${index}: text at ${record?.timestamp}, binary at ${traceTimestamp(cursor.timestamp)}`);
        return;
      }
      const event = events.get(recordEventId(cursor, cursor.offset));
      if (!event?.render) {
        skipped++;
        return;
      }
      const text = comparable(event.name, event.printFmt, event.render(cursor, cursor.offset, cursor.length));
      const kernel = comparable(event.name, event.printFmt, record.text);
      compared.set(event.name, (compared.get(event.name) ?? 0) + 1);
      if (text !== kernel) mismatches.push(`${event.name}\n  kernel: ${JSON.stringify(kernel)}\n  argstr: ${JSON.stringify(text)}`);
    }) > 0);
  } finally {
    reader.close();
  }
  t.same([...reader.lostPerCpu().values()].filter((lost) => lost > 0), [], 'no records lost');
  for (const cpu of cpus) t.equal(read.get(cpu), expected.get(cpu)!.length, `cpu${cpu}: as many binary records as text lines`);
  const total = [...compared.values()].reduce((sum, count) => sum + count, 0);
  t.comment(`compared ${total} records of ${compared.size} events; ${skipped} records of field-list events not compared`);
  t.ok((compared.get('sched:sched_switch') ?? 0) > 0, 'sched_switch records were compared');
  t.ok(compared.size > 50, 'records of many events were compared');
  t.same(mismatches.slice(0, 20), [], `argstr is the trace file's text (${mismatches.length} differences)`);
});
