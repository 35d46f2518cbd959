// Shared by the kernel-tier tests: whether BPF can be used here, and why not.

import { bpfAvailability } from '../../src/bpf/available';

/** Undefined when programs can be loaded (as root); otherwise the reason, for a real skip. */
export function bpfUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  const availability = bpfAvailability();
  return availability.ok ? undefined : availability.reason;
}
