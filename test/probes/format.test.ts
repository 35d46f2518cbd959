// Format files → field layouts: the events recorded in test/fixtures/ringbuf as this kernel
// describes them, the kinds of every field shape tracefs uses, and refusals that name the fault.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EventFormatError, PAGE_HEADER_64, parseEventFormat, parseEventHeader, parsePageHeader,
  type EventLayout, type FieldLayout,
} from '../../src/probes/format';
import { EVENT_HEADER } from '../../src/probes/ringbuf';

const FIXTURES = join(__dirname, '..', 'fixtures', 'ringbuf');

function fixtureFormat(event: string): EventLayout {
  const [system] = event.split('.');
  return parseEventFormat(readFileSync(join(FIXTURES, 'formats', `${event}.format`), 'latin1'), system!);
}

/** name, type, offset, size, signed, kind of each field, for compact expectations. */
function shape(fields: readonly FieldLayout[]): string[] {
  return fields.map((field) => `${field.name}|${field.type}|${field.offset}|${field.size}|${field.signed ? 's' : 'u'}|${field.kind}`);
}

/** A format file around the given field lines. */
function formatText(fieldLines: string[], printFmt = '"x"'): string {
  return [
    'name: probe',
    'ID: 4242',
    'format:',
    '\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;',
    '\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;',
    '\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;',
    '\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;',
    '',
    ...fieldLines.map((line) => `\t${line}`),
    '',
    `print fmt: ${printFmt}`,
    '',
  ].join('\n');
}

t.test('recorded formats of this kernel', async (t) => {
  const enter = fixtureFormat('syscalls.sys_enter_getppid');
  t.equal(enter.system, 'syscalls');
  t.equal(enter.name, 'sys_enter_getppid');
  t.ok(Number.isInteger(enter.id) && enter.id > 0);
  t.same(shape(enter.commonFields), [
    'common_type|unsigned short|0|2|u|int',
    'common_flags|unsigned char|2|1|u|int',
    'common_preempt_count|unsigned char|3|1|u|int',
    'common_pid|int|4|4|s|int',
  ]);
  t.same(shape(enter.fields), ['__syscall_nr|int|8|4|s|int']);
  t.equal(enter.printFmt, '""');

  const exit = fixtureFormat('syscalls.sys_exit_getppid');
  t.same(shape(exit.fields), ['__syscall_nr|int|8|4|s|int', 'ret|long|16|8|s|int']);
  t.equal(exit.printFmt, '"0x%lx", REC->ret');
  t.not(exit.id, enter.id);

  // Syscall arguments are stored as unsigned longs whatever the C type: `int dfd` is 8 bytes.
  t.same(shape(fixtureFormat('syscalls.sys_enter_openat').fields), [
    '__syscall_nr|int|8|4|s|int',
    'dfd|int|16|8|u|int',
    'filename|const char *|24|8|u|int',
    'flags|int|32|8|u|int',
    'mode|umode_t|40|8|u|int',
  ]);

  const sched = fixtureFormat('sched.sched_switch');
  t.same(shape(sched.fields), [
    'prev_comm|char[16]|8|16|u|chars',
    'prev_pid|pid_t|24|4|s|int',
    'prev_prio|int|28|4|s|int',
    'prev_state|long|32|8|s|int',
    'next_comm|char[16]|40|16|u|chars',
    'next_pid|pid_t|56|4|s|int',
    'next_prio|int|60|4|s|int',
  ]);
  t.match(sched.printFmt, /^"prev_comm=%s prev_pid=%d .*__print_flags\(.*REC->next_prio$/);

  t.same(shape(fixtureFormat('sched.sched_process_exec').fields), [
    'filename|__data_loc char[]|8|4|u|dataloc',
    'pid|pid_t|12|4|s|int',
    'old_pid|pid_t|16|4|s|int',
  ]);
  // 6.18 records the fork's comms as __data_loc strings, not char[16].
  t.same(shape(fixtureFormat('sched.sched_process_fork').fields), [
    'parent_comm|__data_loc char[]|8|4|u|dataloc',
    'parent_pid|pid_t|12|4|s|int',
    'child_comm|__data_loc char[]|16|4|u|dataloc',
    'child_pid|pid_t|20|4|s|int',
  ]);
});

t.test('header_page and header_event', async (t) => {
  t.same(parsePageHeader(readFileSync(join(FIXTURES, 'header_page'), 'latin1')), PAGE_HEADER_64);
  t.same(parseEventHeader(readFileSync(join(FIXTURES, 'header_event'), 'latin1')), EVENT_HEADER, 'the decoder matches this kernel');
  t.same(parsePageHeader([
    '\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;',
    '\tfield: local_t commit;\toffset:8;\tsize:4;\tsigned:1;',
    '\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;',
    '\tfield: char data;\toffset:12;\tsize:4084;\tsigned:0;',
  ].join('\n')), { timestampOffset: 0, commitOffset: 8, commitSize: 4, dataOffset: 12 }, '32-bit kernels');
  t.throws(() => parsePageHeader('\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n'), EventFormatError);
  t.throws(() => parsePageHeader([
    '\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;',
    '\tfield: local_t commit;\toffset:4;\tsize:8;\tsigned:1;',
    '\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;',
  ].join('\n')), { name: 'EventFormatError', message: 'bad format of header_page: fields overlap' });
  t.throws(() => parseEventHeader('# compressed entry header\n\ttype_len    :    5 bits\n'),
    { name: 'EventFormatError', message: 'bad format of header_event: no time_delta' });
});

t.test('field kinds', async (t) => {
  const layout = parseEventFormat(formatText([
    'field:bool flag;\toffset:8;\tsize:1;\tsigned:0;',
    'field:s16 small;\toffset:10;\tsize:2;\tsigned:1;',
    'field:unsigned long long big;\toffset:16;\tsize:8;\tsigned:0;',
    'field:const struct landlock_ruleset_attr *const attr;\toffset:24;\tsize:8;\tsigned:0;',
    'field:enum xfs_group_type type;\toffset:32;\tsize:4;\tsigned:0;',
    'field:char name[32];\toffset:36;\tsize:32;\tsigned:0;',
    'field:const char label[ 8 ];\toffset:68;\tsize:8;\tsigned:0;',
    'field:__data_loc char[] path;\toffset:76;\tsize:4;\tsigned:0;',
    'field:__rel_loc char[] tail;\toffset:80;\tsize:4;\tsigned:0;',
    'field:__data_loc u64[] addrs;\toffset:84;\tsize:4;\tsigned:0;',
    'field:__rel_loc u8[] blob;\toffset:88;\tsize:4;\tsigned:0;',
    'field:u8 uuid[16];\toffset:92;\tsize:16;\tsigned:0;',
    'field:unsigned long caller[8];\toffset:112;\tsize:64;\tsigned:0;',
    'field:struct timespec64 when;\toffset:176;\tsize:16;\tsigned:0;',
    'field:struct pair small_struct;\toffset:192;\tsize:8;\tsigned:0;',
    'field:unsigned char mac[6];\toffset:200;\tsize:6;\tsigned:0;',
    'field:u8 odd;\toffset:206;\tsize:3;\tsigned:0;',
    'field:char buf[];\toffset:212;\tsize:0;\tsigned:0;',
    'field:unsigned long args[];\toffset:212;\tsize:0;\tsigned:0;',
  ]), 'probe');
  t.same(shape(layout.fields), [
    'flag|bool|8|1|u|int',
    'small|s16|10|2|s|int',
    'big|unsigned long long|16|8|u|int',
    'attr|const struct landlock_ruleset_attr *const|24|8|u|int',
    'type|enum xfs_group_type|32|4|u|int',
    'name|char[32]|36|32|u|chars',
    'label|const char[8]|68|8|u|chars',
    'path|__data_loc char[]|76|4|u|dataloc',
    'tail|__rel_loc char[]|80|4|u|relloc',
    'addrs|__data_loc u64[]|84|4|u|other',
    'blob|__rel_loc u8[]|88|4|u|other',
    'uuid|u8[16]|92|16|u|other',
    'caller|unsigned long[8]|112|64|u|other',
    'when|struct timespec64|176|16|u|other',
    'small_struct|struct pair|192|8|u|other',
    'mac|unsigned char[6]|200|6|u|other',
    'odd|u8|206|3|u|other',
    'buf|char[]|212|0|u|chars',
    'args|unsigned long[]|212|0|u|other',
  ]);
  t.equal(layout.id, 4242);
  t.equal(layout.commonFields.length, 4);
});

t.test('print fmt', async (t) => {
  // Some ext4 events end their format string in a raw newline, so it spans two lines.
  const layout = parseEventFormat(formatText(['field:u64 owner;\toffset:8;\tsize:8;\tsigned:0;'],
    '"owner %lld\n", REC->owner'), 'ext4');
  t.equal(layout.printFmt, '"owner %lld\n", REC->owner');
  t.same(shape(layout.fields), ['owner|u64|8|8|u|int']);
  const noPrint = parseEventFormat(formatText([]).replace(/print fmt:.*\n/, ''), 'x');
  t.equal(noPrint.printFmt, '');
  t.same(noPrint.fields, []);
});

t.test('formats without signed: read as unsigned', async (t) => {
  const layout = parseEventFormat(formatText(['field:int value;\toffset:8;\tsize:4;']), 'old');
  t.same(shape(layout.fields), ['value|int|8|4|u|int']);
});

t.test('refusals name the event and the fault', async (t) => {
  const refusal = (text: string): string => {
    try {
      parseEventFormat(text, 'sys');
      return 'accepted';
    } catch (error) {
      t.type(error, EventFormatError);
      return (error as Error).message;
    }
  };
  t.equal(refusal(formatText([]).replace('ID: 4242', 'ID: 42a')), "bad format of sys:probe: line 2: bad ID '42a'");
  t.equal(refusal(formatText([]).replace('ID: 4242\n', '')), 'bad format of sys:probe: no ID');
  t.equal(refusal(formatText([]).replace('name: probe\n', '')), 'bad format of sys:?: no name');
  t.equal(refusal(formatText(['field:int value;\toffset:x;\tsize:4;\tsigned:1;'])),
    "bad format of sys:probe: line 9: cannot parse 'field:int value;\toffset:x;\tsize:4;\tsigned:1;'");
  t.equal(refusal(formatText(['something else'])), "bad format of sys:probe: line 9: unexpected 'something else'");
  t.equal(refusal(formatText([]).replace('common_pid;\toffset:4', 'common_pid;\toffset:8')),
    'bad format of sys:probe: common_pid is not 4 bytes at offset 4');
  t.equal(refusal(''), 'bad format of sys:?: no name');
});
