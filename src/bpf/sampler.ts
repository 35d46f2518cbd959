// profile-N through perf: a CPU-clock event sampling at N Hz on every online CPU, each running
// the sampling program — any rate (not the scheduler tick's HZ), stacks of the interrupted code.

import { readFileSync } from 'node:fs';
import { attachPerfEvent, perfAttr, type Attachment } from './attach';
import type { BpfProgram } from './program';

const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_CPU_CLOCK = 0;
/** perf_event_attr's bit field (offset 40): `freq`, sample_period read as a frequency. */
const ATTR_FLAGS_OFFSET = 40;
const FLAG_FREQ = 1n << 10n;

/** Online CPUs (/sys/devices/system/cpu/online: "0-3,6"). */
export function onlineCpus(): number[] {
  const cpus: number[] = [];
  for (const range of readFileSync('/sys/devices/system/cpu/online', 'utf8').trim().split(',')) {
    const [low, high] = range.split('-').map(Number);
    for (let cpu = low!; cpu <= (high ?? low)!; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** The sampling rate of profile-N's interval: samples per second, at least 1. */
export function samplingHz(intervalNs: number): number {
  return Math.max(1, Math.round(1e9 / intervalNs));
}

/**
 * PROGRAM sampling every CPU of CPUS at HZ, each attachment carrying COOKIE
 * (bpf_get_attach_cookie); detaching the attachments stops it.
 */
export function attachSampler(program: BpfProgram, hz: number, cpus: readonly number[] = onlineCpus(), cookie = 0n): Attachment[] {
  const attr = perfAttr(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, (buffer) => {
    buffer.writeBigUInt64LE(BigInt(hz), 16); // sample_freq
    buffer.writeBigUInt64LE(FLAG_FREQ, ATTR_FLAGS_OFFSET);
  });
  const attachments: Attachment[] = [];
  try {
    for (const cpu of cpus) attachments.push(attachPerfEvent(program, attr, cookie, cpu));
  } catch (error) {
    for (const attachment of attachments) attachment.detach();
    throw error;
  }
  return attachments;
}
