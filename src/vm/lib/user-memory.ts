// A traced process's memory read when the handler runs (SPEC §8), for user_string and join
// when nothing was captured at the event: /proc/PID/mem, and /proc/PID/cmdline for an
// argument array whose memory an exec has replaced.

import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

/** user_string reads at most this many bytes before the NUL. */
export const MAX_USER_STRING = 255;
/** join reads at most this many strings of an array, of at most MAX_ARRAY_STRING bytes each (the capture program's limits too, bpf/capture.ts). */
export const MAX_ARRAY_STRINGS = 16;
export const MAX_ARRAY_STRING = 127;
/** Reads stop at page boundaries so a string ending just before an unmapped page is still read. */
const PAGE_SIZE = 4096;

/** The strings of an argument array, and whether it went on past those read (more than MAX_ARRAY_STRINGS). */
export interface StringArray {
  readonly strings: readonly string[];
  readonly more: boolean;
}

/** Runs READ on /proc/PID/mem; undefined when the process is gone or READ fails. */
function withMemory<T>(pid: number, read: (descriptor: number) => T | undefined): T | undefined {
  let descriptor: number;
  try {
    descriptor = openSync(`/proc/${pid}/mem`, 'r');
  } catch {
    return undefined;
  }
  try {
    return read(descriptor);
  } catch {
    return undefined;
  } finally {
    closeSync(descriptor);
  }
}

/** Bytes read at POSITION into BUFFER[start, start + wanted); 0 where the memory is not mapped. */
function readAt(descriptor: number, buffer: Buffer, start: number, wanted: number, position: bigint): number {
  try {
    return readSync(descriptor, buffer, start, wanted, position);
  } catch {
    return 0;
  }
}

/** The NUL-terminated string at ADDRESS (at most LIMIT bytes), or undefined. */
function stringAt(descriptor: number, address: bigint, limit: number): string | undefined {
  const buffer = Buffer.alloc(limit);
  let length = 0;
  while (length < limit) {
    const position = address + BigInt(length);
    const toPageEnd = PAGE_SIZE - Number(position % BigInt(PAGE_SIZE));
    const got = readAt(descriptor, buffer, length, Math.min(toPageEnd, limit - length), position);
    if (got <= 0) return undefined;
    const nul = buffer.subarray(length, length + got).indexOf(0);
    if (nul >= 0) return buffer.toString('latin1', 0, length + nul);
    length += got;
  }
  return buffer.toString('latin1', 0, length);
}

/** The NUL-terminated string at ADDRESS in process PID; "" when any part of it cannot be read. */
export function readUserString(pid: number, address: bigint): string {
  return withMemory(pid, (descriptor) => stringAt(descriptor, address, MAX_USER_STRING)) ?? '';
}

/**
 * The strings of the NULL-terminated `char **` array at ADDRESS in process PID (the first
 * MAX_ARRAY_STRINGS of at most MAX_ARRAY_STRING bytes; a string that cannot be read is ""). When the array itself cannot be
 * read — an exec has replaced the memory the pointer was in, as it usually has by the time
 * a handler of `sys_enter_execve` runs — the process's command line now
 * (/proc/PID/cmdline: after a successful exec, the arguments the new program was given).
 * Empty when the process is gone or ADDRESS is 0.
 */
export function readUserArgv(pid: number, address: bigint): StringArray {
  if (address === 0n) return { strings: [], more: false };
  const pointer = Buffer.alloc(8);
  const fromMemory = withMemory(pid, (descriptor): StringArray | undefined => {
    const strings: string[] = [];
    for (let index = 0; index <= MAX_ARRAY_STRINGS; index++) {
      if (readAt(descriptor, pointer, 0, 8, address + BigInt(index * 8)) !== 8) return index === 0 ? undefined : { strings, more: false };
      const at = pointer.readBigUInt64LE(0);
      if (at === 0n) return { strings, more: false };
      if (index === MAX_ARRAY_STRINGS) return { strings, more: true };
      strings.push(stringAt(descriptor, at, MAX_ARRAY_STRING) ?? '');
    }
    return undefined;
  });
  return fromMemory ?? commandLine(pid);
}

/** /proc/PID/cmdline as its strings (the first MAX_ARRAY_STRINGS); empty when the process is gone. */
function commandLine(pid: number): StringArray {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return { strings: [], more: false };
  }
  const strings = text.endsWith('\0') ? text.slice(0, -1).split('\0') : text === '' ? [] : text.split('\0');
  return { strings: strings.slice(0, MAX_ARRAY_STRINGS).map((value) => value.slice(0, MAX_ARRAY_STRING)), more: strings.length > MAX_ARRAY_STRINGS };
}
