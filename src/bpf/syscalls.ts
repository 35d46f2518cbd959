// System call numbers by name, from the C library's kernel headers (asm/unistd_64.h), so
// that `syscalls:sys_enter_NAME` can run on the raw sys_enter tracepoint with an id check:
// cheaper per event than the perf tracepoint. Empty where the headers are missing.

import { readFileSync } from 'node:fs';

const HEADERS = ['/usr/include/x86_64-linux-gnu/asm/unistd_64.h', '/usr/include/asm/unistd_64.h'];

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
  return numbers;
}
