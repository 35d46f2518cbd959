// argstr on the records recorded in test/fixtures/ringbuf, on hand-made records for each
// print fmt feature (C conversions, casts and operators, the __print_* helpers), and fallbacks.

import t, { type Test } from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  btfEnumValues, compileArgstr, compilePrintFormat, PrintFormatError, type ArgstrOptions,
} from '../../src/probes/argstr';
import { readField, recordEventId, recordPid, type PageBytes } from '../../src/probes/fields';
import { parseEventFormat, type EventLayout } from '../../src/probes/format';
import { PageCursor } from '../../src/probes/ringbuf';

const FIXTURES = join(__dirname, '..', 'fixtures', 'ringbuf');
const description = JSON.parse(readFileSync(join(FIXTURES, 'fixtures.json'), 'utf8')) as {
  recorderPid: number;
  basic: { childPid: number; getppidCalls: number; execPath: string; pages: string[] };
};

t.test('recorded events render as the kernel prints them', async (t) => {
  const layouts = new Map<number, EventLayout>();
  for (const file of readdirSync(join(FIXTURES, 'formats'))) {
    const layout = parseEventFormat(readFileSync(join(FIXTURES, 'formats', file), 'latin1'), file.split('.')[0]!);
    layouts.set(layout.id, layout);
  }
  const renderers = new Map([...layouts].map(([id, layout]) => [id, compileArgstr(layout)]));
  const cursor = new PageCursor();
  const lines: Array<{ event: string; pid: number; text: string; fields: Record<string, unknown> }> = [];
  for (const page of description.basic.pages) {
    cursor.reset(readFileSync(join(FIXTURES, page)));
    while (cursor.next()) {
      const id = recordEventId(cursor, cursor.offset);
      const layout = layouts.get(id)!;
      const fields = Object.fromEntries(layout.fields.map((field) => [field.name, readField(cursor, cursor.offset, cursor.length, field)]));
      lines.push({ event: layout.name, pid: recordPid(cursor, cursor.offset), text: renderers.get(id)!(cursor, cursor.offset, cursor.length), fields });
    }
  }
  const child = description.basic.childPid;
  const of = (event: string): typeof lines => lines.filter((line) => line.event === event);

  t.equal(of('sys_enter_getppid').filter((line) => line.pid === child && line.text === 'sys_getppid()').length, description.basic.getppidCalls);
  const parent = `sys_getppid -> 0x${description.recorderPid.toString(16)}`;
  t.equal(of('sys_exit_getppid').filter((line) => line.pid === child && line.text === parent).length, description.basic.getppidCalls);

  const openat = of('sys_enter_openat');
  t.ok(openat.length > 0);
  for (const line of openat) {
    const hex = (name: string): string => BigInt.asUintN(64, BigInt(line.fields[name] as number | bigint)).toString(16);
    t.equal(line.text, `sys_openat(dfd: ${hex('dfd')}, filename: ${hex('filename')}, flags: ${hex('flags')}, mode: ${hex('mode')})`);
  }
  // AT_FDCWD as the 32-bit int the C library passes, O_RDONLY|O_CLOEXEC.
  t.match(openat[0]!.text, /^sys_openat\(dfd: ffffff9c, filename: [0-9a-f]+, flags: 80000, mode: 0\)$/);

  // sched_switch against an independent reading of its print fmt: TASK_REPORT state letters
  // (R when none), `+` for a preempted task (TASK_REPORT_MAX, 0x100).
  const switches = of('sched_switch');
  t.ok(switches.length > 0);
  for (const { text, fields } of switches) {
    const state = Number(fields.prev_state);
    const letters = ['S', 'D', 'T', 't', 'X', 'Z', 'P', 'I'].filter((_, bit) => state & (1 << bit)).join('|') || 'R';
    t.equal(text, `sched_switch: prev_comm=${fields.prev_comm} prev_pid=${fields.prev_pid} prev_prio=${fields.prev_prio} `
      + `prev_state=${letters}${state & 0x100 ? '+' : ''} ==> next_comm=${fields.next_comm} next_pid=${fields.next_pid} next_prio=${fields.next_prio}`);
  }
  t.ok(switches.some((line) => line.text.startsWith(`sched_switch: prev_comm=node prev_pid=${child} prev_prio=120 prev_state=S ==> `)), 'the sleep');
  t.ok(switches.some((line) => / prev_state=Z ==> /.test(line.text)), 'an exit');
  t.ok(switches.some((line) => / prev_state=R\+ ==> /.test(line.text)), 'a preemption');

  t.match(of('sched_process_exec')[0]?.text, new RegExp(`^sched_process_exec: filename=${description.basic.execPath} pid=(\\d+) old_pid=\\1$`));
  t.match(of('sched_process_fork')[0]?.text, new RegExp(`^sched_process_fork: comm=node pid=${child} child_comm=node child_pid=\\d+$`));
});

// ---------------------------------------------------------------------------------------------
// Hand-made events: a format file with the given fields packed after the common header, and
// records holding the given values.

type FieldSpec = readonly [declaration: string, size: number, signed?: boolean];
type FieldInput = number | bigint | string | Uint8Array;

function makeLayout(fields: readonly FieldSpec[], printFmt: string, name = 'probe', system = 'test'): EventLayout {
  let offset = 8;
  const lines = fields.map(([declaration, size, signed]) => {
    const line = `\tfield:${declaration};\toffset:${offset};\tsize:${size};\tsigned:${signed ? 1 : 0};`;
    offset += size;
    return line;
  });
  return parseEventFormat([
    `name: ${name}`,
    'ID: 4242',
    'format:',
    '\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;',
    '\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;',
    '\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;',
    '\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;',
    '',
    ...lines,
    '',
    `print fmt: ${printFmt}`,
  ].join('\n'), system);
}

/** Where the record starts in its page, so that offsets are exercised. */
const RECORD_START = 24;

/** A record of `layout` with `values` by field name; `__data_loc` strings go after the fixed part. */
function makeRecord(layout: EventLayout, values: Record<string, FieldInput>): { bytes: PageBytes; length: number } {
  const page = Buffer.alloc(512);
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  let tail = layout.fields.reduce((end, field) => Math.max(end, field.offset + field.size), 8);
  for (const field of layout.fields) {
    const value = values[field.name];
    if (value === undefined) continue;
    const position = RECORD_START + field.offset;
    if (field.kind === 'dataloc' || value instanceof Uint8Array && field.type.startsWith('__data_loc')) {
      const data = typeof value === 'string' ? Buffer.from(value + '\0', 'latin1') : Buffer.from(value as Uint8Array);
      data.copy(page, RECORD_START + tail);
      view.setUint32(position, (data.length << 16) | tail, true);
      tail += data.length;
    } else if (typeof value === 'string') {
      page.write(value, position, 'latin1');
    } else if (value instanceof Uint8Array) {
      page.set(value, position);
    } else if (field.size === 8) {
      view.setBigUint64(position, BigInt.asUintN(64, BigInt(value)), true);
    } else {
      const number = Number(value);
      if (field.size === 4) view.setUint32(position, number >>> 0, true);
      else if (field.size === 2) view.setUint16(position, number & 0xffff, true);
      else view.setUint8(position, number & 0xff);
    }
  }
  return { bytes: { page, view }, length: tail };
}

/** The argstr of one hand-made record. */
function render(fields: readonly FieldSpec[], printFmt: string, values: Record<string, FieldInput>, options: ArgstrOptions = {}): string {
  const layout = makeLayout(fields, printFmt);
  const { bytes, length } = makeRecord(layout, values);
  return compileArgstr(layout, options)(bytes, RECORD_START, length);
}

/** The argstr of a record of one field `x` of the given declaration. */
function renderOne(declaration: string, size: number, signed: boolean, format: string, value: FieldInput): string {
  return render([[declaration, size, signed]], format, { x: value });
}

function throwsPrintFormat(t: Test, printFmt: string, fields: readonly FieldSpec[] = [['int x', 4, true]]): void {
  t.throws(() => compilePrintFormat(makeLayout(fields, printFmt)), PrintFormatError, printFmt);
}

t.test('integer conversions truncate and extend as the kernel vsnprintf does', async (t) => {
  const cases: Array<[string, number, boolean, string, FieldInput, string]> = [
    // a negative int: 4 bytes
    ['int x', 4, true, '"%d"', -1, '-1'],
    ['int x', 4, true, '"%u"', -1, '4294967295'],
    ['int x', 4, true, '"%x"', -1, 'ffffffff'],
    ['int x', 4, true, '"%X"', -255, 'FFFFFF01'],
    ['int x', 4, true, '"%ld"', -1, '-1'],
    ['int x', 4, true, '"%lu"', -1, '18446744073709551615'],
    ['int x', 4, true, '"%lx"', -1, 'ffffffffffffffff'],
    // a negative long: 8 bytes
    ['long x', 8, true, '"%d"', -1, '-1'],
    ['long x', 8, true, '"%u"', -1, '4294967295'],
    ['long x', 8, true, '"%x"', -1, 'ffffffff'],
    ['long x', 8, true, '"%lld"', -1, '-1'],
    ['long x', 8, true, '"%llu"', -1, '18446744073709551615'],
    ['long x', 8, true, '"%llx"', -1, 'ffffffffffffffff'],
    ['long x', 8, true, '"%zd"', -9007199254740993n, '-9007199254740993'],
    // %d of a 64-bit value is its low 32 bits; h and hh narrow further
    ['u64 x', 8, false, '"%d %u"', 0x1_8000_0005n, '-2147483643 2147483653'],
    ['unsigned int x', 4, false, '"%hd %hu %hhd %hhu"', 0x18001, '-32767 32769 1 1'],
    ['unsigned long x', 8, false, '"%llu %lld"', 0xffff_ffff_ffff_fffen, '18446744073709551614 -2'],
    ['short x', 2, true, '"%d %u %x"', -2, '-2 4294967294 fffffffe'],
    ['unsigned char x', 1, false, '"%d %c"', 65, '65 A'],
    ['int x', 4, true, '"%o %#o %#o"', 8, '10 010 010'],
  ];
  for (const [declaration, size, signed, format, value, expected] of cases) {
    const printFmt = format + ', REC->x'.repeat(format.split('%').length - 1);
    t.equal(renderOne(declaration, size, signed, printFmt, value), `probe: ${expected}`, `${declaration} ${printFmt} ${value}`);
  }
});

t.test('flags, widths and precisions', async (t) => {
  const x5 = ', REC->x'.repeat(5);
  const cases: Array<[string, FieldInput, string]> = [
    [`"[%5d][%-5d][%05d][%+d][% d]"${x5}`, 42, '[   42][42   ][00042][+42][ 42]'],
    [`"[%5d][%-5d][%05d][%+d][% d]"${x5}`, -42, '[  -42][-42  ][-0042][-42][-42]'],
    [`"[%08lx][%#lx][%#x][%#010x][%#X]"${x5}`, 0xbeef, '[0000beef][0xbeef][0xbeef][0x0000beef][0XBEEF]'],
    // The kernel's number(): `#x` of 0 is 0x0, and precision 0 still prints a 0.
    [`"[%#x][%.0d][%.3d][%6.3d][%-6.3d|]"${x5}`, 0, '[0x0][0][000][   000][000   |]'],
    ['"[%03d][%3d][%-1d]", REC->x, REC->x, REC->x', 1234, '[1234][1234][1234]'],
    ['"[%*d][%-*d][%*d]", 6, REC->x, 6, REC->x, -6, REC->x', 7, '[     7][7     ][7     ]'],
    ['"100%% [%c] [%3c] [%-3c]", 104, 104, 104', 0, '100% [h] [  h] [h  ]'],
    // a constant printed with a width from the record
    ['"[%*d][%.*s][%*p]", REC->x, 5, REC->x, "abcdefgh", REC->x, 0', 3, '[  5][abc][  0]'],
  ];
  for (const [printFmt, value, expected] of cases) {
    t.equal(renderOne('int x', 4, true, printFmt, value), `probe: ${expected}`, printFmt);
  }
  const strings: Array<[string, string]> = [
    ['"[%s][%10s][%-10s][%.3s][%-6.2s][%.*s]", REC->name, REC->name, REC->name, REC->name, REC->name, 4, REC->name', '[kworker][   kworker][kworker   ][kwo][kw    ][kwor]'],
    ['"[%-16s]", __get_str(path)', '[/tmp            ]'],
  ];
  for (const [printFmt, expected] of strings) {
    t.equal(render([['char name[16]', 16], ['__data_loc char[] path', 4]], printFmt, { name: 'kworker', path: '/tmp' }), `probe: ${expected}`);
  }
});

t.test('C expressions over fields', async (t) => {
  const fields: FieldSpec[] = [['int a', 4, true], ['unsigned int b', 4], ['long c', 8, true], ['u64 d', 8], ['char s[8]', 8]];
  const values = { a: -3, b: 5, c: -1, d: 0x1234_5678_9abc_def0n, s: 'ab' };
  const cases: Array<[string, string]> = [
    ['"%d %d %d", REC->a + REC->b * 2, (REC->a - 1) / 2, REC->a % 2', '7 -2 -1'],
    // int against unsigned compares as unsigned: -3 becomes 4294967293.
    ['"%s %s", REC->a < REC->b ? "lt" : "ge", REC->a < (int)REC->b ? "lt" : "ge"', 'ge lt'],
    ['"%u %lu", REC->b - 6, REC->b - 6L', '4294967295 18446744073709551615'],
    ['"%d,%d", ((unsigned int) ((REC->d) >> 20)), ((unsigned int) ((REC->d) & ((1U << 20) - 1)))', '1164413355,843504'],
    ['"%lx %lx %x", REC->d >> 4, REC->d << 4, ~REC->b', '123456789abcdef 23456789abcdef00 fffffffa'],
    ['"%d %d %d %d", !REC->a, !!REC->a, REC->a && 0, REC->a || 0', '0 1 0 1'],
    ['"%d %d", REC->a == -3, REC->c != -1', '1 0'],
    ['"%llu %d %u", (unsigned int)REC->c, (int)REC->d, (unsigned char)REC->a', '4294967295 -1698898192 253'],
    ['"%ld %ld", (long)REC->b, (long)REC->a', '5 -3'],
    ['"%d %d", sizeof(u64), sizeof(REC->b)', '8 4'],
    ['"%s", REC->c ? (REC->a ? "both" : "c") : "none"', 'both'],
    ['"%d", REC->a ? 10 : 20L', '10'],
    ['"[%s][%c]", __get_str(n)[0] ? "name" : "", REC->s[1]', '[name][b]'],
    ['"%s%s", 0 ? "x" : "y", 1 ? "z" : ((void *)0)', 'yz'],
    ['"%s", REC->a ? ((void *)0) : "set"', '(null)'],
    ['"%ld", __builtin_expect(!!((unsigned long)(void *)(REC->c) >= (unsigned long)-4095), 0) ? REC->c : 0', '-1'],
    ['"%x %x", \'A\', 0x10U', '41 10'],
    ['"a" "b" "%s\\t%d\\n", "c\\"d", 1', 'abc"d\t1\n'],
  ];
  const allFields: FieldSpec[] = [...fields, ['__data_loc char[] n', 4]];
  for (const [printFmt, expected] of cases) {
    t.equal(render(allFields, printFmt, { ...values, n: 'x' }), `probe: ${expected}`, printFmt);
  }
});

t.test('__print_symbolic, __print_flags, __print_hex, __print_array, bitmaps', async (t) => {
  const symbolic = '"%s", __print_symbolic(REC->x, { 0, "HI" }, { 1, "TIMER" }, { -1, "ALL" }, { 1, "SHADOWED" })';
  t.equal(renderOne('int x', 4, true, symbolic, 1), 'probe: TIMER');
  t.equal(renderOne('int x', 4, true, symbolic, -1), 'probe: ALL', '-1 as unsigned long');
  t.equal(renderOne('int x', 4, true, symbolic, 7), 'probe: 0x7');
  t.equal(renderOne('int x', 4, true, '"%s", __print_symbolic(REC->x, { 1, "A" }, { -1, ((void *)0) }, { 2, "B" })', 2), 'probe: 0x2',
    'a NULL name ends the table');

  const flags = '"%s", __print_flags(REC->x, "|", { 0x1, "A" }, { 0x2, "B" }, { 0x6, "BC" }, { 0x10, "E" })';
  t.equal(renderOne('unsigned long x', 8, false, flags, 0x13), 'probe: A|B|E');
  t.equal(renderOne('unsigned long x', 8, false, flags, 0x7), 'probe: A|B|0x4', 'a mask is taken once, the rest printed in hex');
  t.equal(renderOne('unsigned long x', 8, false, flags, 0x108), 'probe: 0x108');
  t.equal(renderOne('unsigned long x', 8, false, flags, 0), 'probe: ');
  t.equal(renderOne('unsigned long x', 8, false, '"%s", __print_flags(REC->x, "", { 1, "r" }, { 2, "w" })', 3), 'probe: rw');
  t.equal(renderOne('u64 x', 8, false, '"%s", __print_flags(REC->x, "|", { (1ULL << 63), "TOP" })', 1n << 63n), 'probe: TOP');

  const buffer = new Uint8Array([0xde, 0xad, 0x00, 0x01, 0x02]);
  const bytes: FieldSpec[] = [['__u8 buf[5]', 5], ['int len', 4, true]];
  t.equal(render(bytes, '"%s|%s", __print_hex(REC->buf, REC->len), __print_hex_str(REC->buf, 3)', { buf: buffer, len: 5 }), 'probe: de ad 00 01 02|dead00');
  t.equal(render(bytes, '"[%s]", __print_hex(REC->buf, 0)', { buf: buffer, len: 0 }), 'probe: []');
  const array: FieldSpec[] = [['__data_loc u32[] values', 4], ['__data_loc u64[] wide', 4]];
  t.equal(render(array,
    '"%s %s", __print_array(__get_dynamic_array(values), __get_dynamic_array_len(values) / sizeof(u32), sizeof(u32)), __print_array(__get_dynamic_array(wide), __get_dynamic_array_len(wide) / 8, 8)',
    { values: new Uint8Array([1, 0, 0, 0, 0xff, 0, 0, 0]), wide: new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0]) }), 'probe: {0x1,0xff} {0x100000000}');
  // 72 bits: a first chunk of 8 bits, then 32-bit ones.
  const mask = new Uint8Array(9);
  mask[0] = 0x03;
  mask[8] = 0x80;
  t.equal(render([['__data_loc unsigned long[] cpus', 4]], '"%s", __get_bitmask(cpus)', { cpus: mask }), 'probe: 80,00000000,00000003');
  t.equal(render([['int n', 4, true], ['unsigned long mask[2]', 16]], '"%*pbl|%*pb", REC->n, REC->mask, 40, REC->mask',
    { n: 70, mask: new Uint8Array([0x0f, 0x01, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0]) }), 'probe: 0-3,8,69|00,0000010f');
});

t.test('pointers and the memory they format', async (t) => {
  const address = 0xffffffff81234567n;
  t.equal(renderOne('void * x', 8, false, '"%p|%20p|%-20p|%px", REC->x, REC->x, REC->x, REC->x', 0),
    'probe: 0000000000000000|                   0|0                   |0000000000000000');
  t.equal(render([['void * x', 8]], '"%p %ps %pS %pSR", REC->x, REC->x, REC->x, REC->x', { x: address }),
    'probe: ffffffff81234567 0xffffffff81234567 0xffffffff81234567 0xffffffff81234567', 'no symbolizer');
  const options: ArgstrOptions = {
    kernelSymbol: (value) => (value >= 0xffffffff81234000n && value < 0xffffffff81234800n
      ? { name: 'vfs_read', offset: value - 0xffffffff81234000n, size: 0x800n, module: value & 1n ? 'ext4' : undefined }
      : undefined),
  };
  t.equal(render([['void * x', 8], ['unsigned long y', 8]], '"%ps %pS %pS %ps", REC->x, REC->x, REC->y, (void *)REC->y', { x: address - 1n, y: address }, options),
    'probe: vfs_read vfs_read+0x566/0x800 vfs_read+0x567/0x800 [ext4] vfs_read [ext4]');
  t.equal(render([['void * x', 8]], '"%pS", REC->x', { x: 0x1000n }, options), 'probe: 0x1000', 'an address without a symbol');

  const ipv4 = new Uint8Array([192, 168, 1, 20]);
  t.equal(render([['__u8 a[4]', 4]], '"%pI4 %pi4", REC->a, REC->a', { a: ipv4 }), 'probe: 192.168.1.20 192.168.001.020');
  const ipv6Cases: Array<[number[], string]> = [
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], '2001:db8::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1], '::ffff:127.0.0.1'],
    [[0x20, 0x01, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1], '2001:0:1::1:0:1'],
    [[0xfe, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 3], 'fe80:1::2:3'],
  ];
  for (const [bytes, expected] of ipv6Cases) {
    t.equal(render([['__u8 a[16]', 16]], '"%pI6c", REC->a', { a: new Uint8Array(bytes) }), `probe: ${expected}`, expected);
  }
  t.equal(render([['__u8 a[16]', 16]], '"%pI6|%pi6", REC->a, REC->a', { a: new Uint8Array(ipv6Cases[0]![0]) }),
    'probe: 2001:0db8:0000:0000:0000:0000:0000:0001|20010db8000000000000000000000001');

  const sockaddr4 = new Uint8Array(28);
  sockaddr4.set([2, 0, 0x1f, 0x90, 10, 0, 0, 7]);
  const sockaddr6 = new Uint8Array(28);
  sockaddr6.set([10, 0, 0x01, 0xbb]);
  sockaddr6.set(ipv6Cases[0]![0], 8);
  const socket: FieldSpec[] = [['__u8 a[28]', 28], ['__u8 b[28]', 28]];
  t.equal(render(socket, '"%pISpc %pISpc %pISc", REC->a, REC->b, REC->b', { a: sockaddr4, b: sockaddr6 }),
    'probe: 10.0.0.7:8080 [2001:db8::1]:443 2001:db8::1');

  const uuid = new Uint8Array([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
  t.equal(render([['u8 fsid[16]', 16]], '"%pU %pUB %pUl", REC->fsid, REC->fsid, REC->fsid', { fsid: uuid }),
    'probe: 12345678-9abc-def0-0123-456789abcdef 12345678-9ABC-DEF0-0123-456789ABCDEF 78563412-bc9a-f0de-0123-456789abcdef');
  const mac = new Uint8Array([0x00, 0x1b, 0x21, 0x0a, 0xbc, 0xde]);
  t.equal(render([['unsigned char m[6]', 6]], '"%pM %pMR %pMF %pm %*phC %4ph", REC->m, REC->m, REC->m, REC->m, 3, REC->m, REC->m', { m: mac }),
    'probe: 00:1b:21:0a:bc:de de:bc:0a:21:1b:00 00-1b-21-0a-bc-de 001b210abcde 00:1b:21 00 1b 21 0a');
});

t.test('enum constants come from options.enumValue', async (t) => {
  const printFmt = '"%s", __print_symbolic(REC->x, { TCP_ESTABLISHED, "TCP_ESTABLISHED" }, { TCP_CLOSE, "TCP_CLOSE" })';
  const enums = new Map([['TCP_ESTABLISHED', 1n], ['TCP_CLOSE', 7n]]);
  t.equal(render([['int x', 4, true]], printFmt, { x: 7 }, { enumValue: (name) => enums.get(name) }), 'probe: TCP_CLOSE');
  t.equal(render([['int x', 4, true]], printFmt, { x: 7 }), 'probe: x=7', 'unknown without them: the field list');
});

t.test('what cannot be rendered falls back to the field list', async (t) => {
  const fields: FieldSpec[] = [['int a', 4, true], ['char s[8]', 8], ['u8 raw[3]', 3], ['u64 big', 8]];
  const values = { a: -5, s: 'hi', raw: new Uint8Array([1, 2, 3]), big: 0xffff_ffff_ffff_fffen };
  for (const printFmt of [
    '"%d", jiffies_to_msecs(REC->a)', // a kernel function
    '"%s", REC->name_ptr', // no such field
    '"%d %d", REC->a', // too few arguments
    '"%n", REC->a', // a conversion the kernel refuses
    '"%pd", REC->a', // a %p extension reading kernel memory
    '"%d", ({ int x = REC->a; x; })', // a statement expression
    '"%d", UNKNOWN_ENUM', // an enum the kernel did not substitute
    '"%d", REC->raw', // an array as a value
    '"%d", REC->raw[REC->a]', // a variable index
    '"%d", ((struct page *)0) + REC->a', // pointer arithmetic scaled by a type
    '"%s", REC->a', // %s of a pointer: kernel memory
    '"%d", "text"', // an integer conversion of a string
    'REC->a', // no format string
    '"%d", 1.5', // a floating constant
  ]) {
    throwsPrintFormat(t, printFmt, fields);
    t.equal(render(fields, printFmt, values), 'probe: a=-5 s=hi raw=nil big=-2', printFmt);
  }
  // A record cut short of its fixed fields: the field list reads what is there.
  const layout = makeLayout(fields, '"%d %s", REC->a, REC->s');
  const { bytes } = makeRecord(layout, values);
  t.equal(compileArgstr(layout)(bytes, RECORD_START, 12), 'probe: a=-5 s=nil raw=nil big=nil');
  t.equal(compileArgstr(makeLayout([], '"%d", REC->gone'))(bytes, RECORD_START, 8), 'probe: ');
  t.equal(compileArgstr(makeLayout([], '"", ""'))(bytes, RECORD_START, 8), 'probe: ');
});

t.test('syscall events use the kernel syscall printers, not their print fmt', async (t) => {
  const enter = makeLayout([['int __syscall_nr', 4, true], ['unsigned long fd', 8], ['const char * buf', 8]], '"fd: 0x%08lx"', 'sys_enter_write', 'syscalls');
  const exit = makeLayout([['int __syscall_nr', 4, true], ['long ret', 8, true]], '"0x%lx", REC->ret', 'sys_exit_openat', 'syscalls');
  const none = makeLayout([['int __syscall_nr', 4, true]], '""', 'sys_enter_sync', 'syscalls');
  const write = makeRecord(enter, { __syscall_nr: 1, fd: 3, buf: 0x7ffd1c2a10e0n });
  t.equal(compileArgstr(enter)(write.bytes, RECORD_START, write.length), 'sys_write(fd: 3, buf: 7ffd1c2a10e0)');
  const failed = makeRecord(exit, { ret: -2 });
  t.equal(compileArgstr(exit)(failed.bytes, RECORD_START, failed.length), 'sys_openat -> 0xfffffffffffffffe');
  const sync = makeRecord(none, {});
  t.equal(compileArgstr(none)(sync.bytes, RECORD_START, sync.length), 'sys_sync()');
});

t.test('btfEnumValues reads ENUM and ENUM64 and drops names with two values', async (t) => {
  const strings = '\0int\0colour\0RED\0GREEN\0SHARED\0BIG\0';
  const name = (text: string): number => strings.indexOf(`\0${text}\0`) + 1;
  const words: number[] = [];
  const type = (nameOffset: number, kind: number, count: number, signed: boolean, sizeOrType: number): void => {
    words.push(nameOffset, ((signed ? 1 : 0) << 31 | kind << 24 | count) >>> 0, sizeOrType);
  };
  type(name('int'), 1, 0, false, 4);
  words.push(0x01000020); // INT: signed, 32 bits
  type(name('colour'), 6, 3, true, 4);
  words.push(name('RED'), 0, name('GREEN'), -5 >>> 0, name('SHARED'), 1);
  type(0, 19, 1, false, 8);
  words.push(name('BIG'), 1, 0xffffffff);
  type(0, 6, 2, false, 4);
  words.push(name('SHARED'), 2, name('RED'), 0);
  const typeBytes = words.length * 4;
  const blob = Buffer.alloc(24 + typeBytes + strings.length);
  blob.writeUInt16LE(0xeb9f, 0);
  blob.writeUInt8(1, 2);
  blob.writeUInt32LE(24, 4);
  blob.writeUInt32LE(0, 8);
  blob.writeUInt32LE(typeBytes, 12);
  blob.writeUInt32LE(typeBytes, 16);
  blob.writeUInt32LE(strings.length, 20);
  words.forEach((word, index) => blob.writeUInt32LE(word >>> 0, 24 + index * 4));
  blob.write(strings, 24 + typeBytes, 'latin1');
  t.same([...btfEnumValues(blob)].sort(), [['BIG', 0xffffffff00000001n], ['GREEN', -5n], ['RED', 0n]]);
  t.throws(() => btfEnumValues(Buffer.alloc(24)), PrintFormatError);
  blob.writeUInt32LE(typeBytes + 1000, 12);
  t.throws(() => btfEnumValues(blob), PrintFormatError);
});

t.test('rendering a sched_switch again and again gives the same text', async (t) => {
  const layout = parseEventFormat(readFileSync(join(FIXTURES, 'formats', 'sched.sched_switch.format'), 'latin1'), 'sched');
  const { bytes, length } = makeRecord(layout, {
    prev_comm: 'kworker/u16:3', prev_pid: 1234, prev_prio: 120, prev_state: 0x101, next_comm: 'swapper/1', next_pid: 0, next_prio: 120,
  });
  const renderer = compileArgstr(layout);
  t.equal(renderer(bytes, RECORD_START, length),
    'sched_switch: prev_comm=kworker/u16:3 prev_pid=1234 prev_prio=120 prev_state=S+ ==> next_comm=swapper/1 next_pid=0 next_prio=120');
  // Once the renderer is optimised (its speed is a figure of `npm run bench`, event path
  // variant argstr), it still renders the same.
  const first = renderer(bytes, RECORD_START, length);
  let same = 0;
  for (let index = 0; index < 50_000; index++) if (renderer(bytes, RECORD_START, length) === first) same++;
  t.equal(same, 50_000);
});
