// System call numbers by name, from the C library's kernel headers (asm/unistd_64.h), so
// that `syscalls:sys_enter_NAME` can run on the raw sys_enter tracepoint with a check of the
// number: cheaper per event than the perf tracepoint. Empty where the headers are missing.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const HEADERS = ['/usr/include/x86_64-linux-gnu/asm/unistd_64.h', '/usr/include/asm/unistd_64.h'];

/**
 * Events named after the kernel's SYSCALL_DEFINE name where the system call table's name
 * differs (x86-64): `sys_enter_newstat` is the call `__NR_stat`.
 */
const TABLE_NAMES: ReadonlyMap<string, string> = new Map([
  ['newstat', 'stat'], ['newfstat', 'fstat'], ['newlstat', 'lstat'], ['newuname', 'uname'],
  ['sendfile64', 'sendfile'], ['umount', 'umount2'],
]);

/**
 * x86-64 system calls newer than the C library's headers may be (from the kernel's
 * syscall_64.tbl; the numbers of the ABI never change). The headers' own numbers come first.
 */
const NEWER_NUMBERS: ReadonlyMap<string, number> = new Map([
  ['uretprobe', 335], ['uprobe', 336], ['cachestat', 451], ['fchmodat2', 452], ['map_shadow_stack', 453],
  ['futex_wake', 454], ['futex_wait', 455], ['futex_requeue', 456], ['statmount', 457], ['listmount', 458],
  ['lsm_get_self_attr', 459], ['lsm_set_self_attr', 460], ['lsm_list_modules', 461], ['mseal', 462],
  ['setxattrat', 463], ['getxattrat', 464], ['listxattrat', 465], ['removexattrat', 466],
  ['open_tree_attr', 467], ['file_getattr', 468], ['file_setattr', 469],
]);

/** Raw system call tracepoints see every number; those from here on have no event (x32, invalid). */
export const SYSCALL_NUMBERS_END = 1024;

let numbers: Map<string, number> | null = null;

export function syscallNumbers(): ReadonlyMap<string, number> {
  if (numbers !== null) return numbers;
  numbers = new Map();
  // The pt_regs layout the raw path reads is x86-64's.
  if (process.arch !== 'x64') return numbers;
  for (const path of HEADERS) {
    let text: string;
    try {
      text = readFileSync(path, 'latin1');
    } catch {
      continue;
    }
    for (const match of text.matchAll(/^#define __NR_(\w+) (\d+)$/gm)) numbers.set(match[1]!, Number(match[2]));
    break;
  }
  const named = new Set(numbers.values());
  for (const [name, number] of NEWER_NUMBERS) if (!numbers.has(name) && !named.has(number)) numbers.set(name, number);
  return numbers;
}

/** The number of the system call of event `sys_enter_NAME` / `sys_exit_NAME` (NAME given), if known. */
export function syscallNumber(name: string): number | undefined {
  return syscallNumbers().get(TABLE_NAMES.get(name) ?? name);
}

/**
 * The numbers of the system calls that have a `PREFIX*` event on this kernel: exactly what
 * tracefs records for the whole glob. When an event's number is not known here (a kernel
 * newer than this list), every number no system call is known by is added too, so that no
 * call with an event is missed (calls of such numbers then count, though they fail ENOSYS).
 */
export function syscallsWithEvents(tracefsRoot: string, prefix: 'sys_enter_' | 'sys_exit_'): number[] {
  const traced = new Set<number>();
  let complete = true;
  for (const event of readdirSync(join(tracefsRoot, 'events', 'syscalls'))) {
    if (!event.startsWith(prefix)) continue;
    const number = syscallNumber(event.slice(prefix.length));
    if (number === undefined) complete = false;
    else traced.add(number);
  }
  if (!complete) {
    const known = new Set(syscallNumbers().values());
    for (let number = 0; number < SYSCALL_NUMBERS_END; number++) if (!known.has(number)) traced.add(number);
  }
  return [...traced];
}
