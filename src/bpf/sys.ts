// The system calls Node lacks — bpf(2), perf_event_open(2), ioctl(2), close(2) — over koffi,
// loaded on first use only, so runs that never touch BPF pay nothing for it.

import { existsSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';

/** A failed system call: which one and the errno it returned. */
export class SyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(`${call}: ${code} (errno ${errno})`);
    this.name = 'SyscallError';
  }
}

/** Why BPF cannot be used here (koffi not loadable, refused by KTAP_NO_BPF, …). */
export class BpfUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BpfUnavailable';
  }
}

interface Calls {
  readonly bpf: (cmd: number, attr: Buffer, size: number) => number;
  readonly perfEventOpen: (attr: Buffer, pid: number, cpu: number, groupFd: number, flags: number) => number;
  readonly ioctl: (fd: number, request: number, arg: number) => number;
  readonly close: (fd: number) => number;
  readonly errno: () => number;
  readonly address: (buffer: Buffer) => bigint;
  readonly mmap: (length: number, prot: number, fd: number, offset: number) => bigint;
  readonly munmap: (address: bigint, length: number) => number;
  readonly view: (address: bigint, length: number) => ArrayBuffer;
}

// System call numbers per architecture (asm/unistd.h).
const SYSCALL_NUMBERS: Record<string, { bpf: number; perfEventOpen: number }> = {
  x64: { bpf: 321, perfEventOpen: 298 },
  arm64: { bpf: 280, perfEventOpen: 241 },
};

/** Set to refuse koffi (tests of the fallback, or a user who wants the user tier only). */
export const REFUSE_ENV = 'KTAP_NO_BPF';

let calls: Calls | null = null;
let failure: BpfUnavailable | null = null;

/**
 * koffi. Loaded by name, it cost ~35 ms here, mostly before its native module: Node's
 * resolution of a package's "exports" (its internals compiled on first use), then koffi's
 * entry and its platform package, which reads Node's ELF header to choose the glibc or musl
 * build. The native module is what koffi exports, so it is loaded by its path (~5 ms) from
 * the platform package where npm puts it, beside koffi (one package with koffi's version);
 * by name when it is not there.
 */
function requireKoffi(): typeof import('koffi') {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const platform = `@koromix/koffi-${process.platform}-${process.arch}`;
  for (const directory of module.paths) {
    for (const build of [`${process.platform}_${process.arch}`, `musl_${process.arch}`]) {
      const file = join(directory, platform, build, 'koffi.node');
      if (!existsSync(file)) continue;
      try {
        return require(file) as typeof import('koffi');
      } catch {
        // The build for the other C library.
      }
    }
  }
  return require('koffi') as typeof import('koffi');
  /* eslint-enable @typescript-eslint/no-require-imports */
}

function load(): Calls {
  if (calls !== null) return calls;
  if (failure !== null) throw failure;
  try {
    if (process.env[REFUSE_ENV]) throw new Error(`${REFUSE_ENV} is set`);
    const numbers = SYSCALL_NUMBERS[arch()];
    if (numbers === undefined) throw new Error(`no system call numbers for ${arch()}`);
    const koffi = requireKoffi();
    const libc = koffi.load('libc.so.6');
    // syscall() is variadic; with integer and pointer arguments only, a fixed prototype
    // passes them in the same registers on x86-64 and arm64.
    const bpf = libc.func('long syscall(long nr, int cmd, void *attr, unsigned int size)');
    const perf = libc.func('long syscall(long nr, void *attr, int pid, int cpu, int group, unsigned long flags)');
    const ioctl = libc.func('int ioctl(int fd, unsigned long request, unsigned long arg)');
    const close = libc.func('int close(int fd)');
    const mmap = libc.func('intptr_t mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)');
    const munmap = libc.func('int munmap(intptr_t addr, size_t length)');
    calls = {
      bpf: (cmd, attr, size) => Number(bpf(numbers.bpf, cmd, attr, size)),
      perfEventOpen: (attr, pid, cpu, groupFd, flags) => Number(perf(numbers.perfEventOpen, attr, pid, cpu, groupFd, flags)),
      ioctl: (fd, request, arg) => ioctl(fd, request, arg) as number,
      close: (fd) => close(fd) as number,
      errno: () => koffi.errno(),
      address: (buffer) => koffi.address(buffer) as bigint,
      mmap: (length, prot, fd, offset) => BigInt(mmap(null, length, prot, MAP_SHARED, fd, offset) as number | bigint),
      munmap: (address, length) => munmap(address, length) as number,
      view: (address, length) => koffi.view(address, length) as ArrayBuffer,
    };
    return calls;
  } catch (error) {
    failure = new BpfUnavailable(`koffi not loadable: ${(error as Error).message.split('\n')[0]}`);
    throw failure;
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 7: 'E2BIG', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES',
  14: 'EFAULT', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 24: 'EMFILE', 28: 'ENOSPC',
  38: 'ENOSYS', 95: 'EOPNOTSUPP', 524: 'ENOTSUPP',
};

function check(call: string, result: number, api: Calls): number {
  if (result >= 0) return result;
  const errno = api.errno();
  throw new SyscallError(call, errno, ERRNO_NAMES[errno] ?? `errno ${errno}`);
}

/** bpf(cmd, attr, attr.length); returns the result (often an fd) or throws SyscallError. */
export function bpfCall(cmd: number, attr: Buffer, name = `bpf(${cmd})`): number {
  const api = load();
  return check(name, api.bpf(cmd, attr, attr.length), api);
}

/** bpf() returning -1 and its errno instead of throwing: for lookups where ENOENT is normal. */
export function bpfTry(cmd: number, attr: Buffer): number {
  const api = load();
  const result = api.bpf(cmd, attr, attr.length);
  return result >= 0 ? result : -api.errno();
}

export function perfEventOpen(attr: Buffer, pid: number, cpu: number, groupFd = -1, flags = PERF_FLAG_FD_CLOEXEC): number {
  const api = load();
  return check('perf_event_open', api.perfEventOpen(attr, pid, cpu, groupFd, flags), api);
}

export function ioctl(fd: number, request: number, arg: number): void {
  const api = load();
  check('ioctl', api.ioctl(fd, request, arg), api);
}

export function closeFd(fd: number): void {
  load().close(fd);
}

/** The address of a Buffer's bytes, for the u64 pointer fields of bpf_attr. */
export function addressOf(buffer: Buffer): bigint {
  return load().address(buffer);
}

const MAP_SHARED = 0x01;
const MAP_FAILED = (1n << 64n) - 1n;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;

/**
 * Maps LENGTH bytes of the object behind FD (a BPF ring buffer) at OFFSET, shared with the
 * kernel; returns the address, to be given back with unmap().
 */
export function mapShared(fd: number, length: number, offset: number, prot: number): bigint {
  const api = load();
  const address = BigInt.asUintN(64, api.mmap(length, prot, fd, offset));
  if (address === MAP_FAILED) {
    const errno = api.errno();
    throw new SyscallError('mmap', errno, ERRNO_NAMES[errno] ?? `errno ${errno}`);
  }
  return address;
}

export function unmap(address: bigint, length: number): void {
  load().munmap(address, length);
}

/** LENGTH bytes of our memory at ADDRESS as an ArrayBuffer (no copy: reads see the kernel's writes). */
export function memoryAt(address: bigint, length: number): ArrayBuffer {
  return load().view(address, length);
}

/** Loads koffi now; throws BpfUnavailable with the reason when it cannot be loaded. */
export function loadSyscalls(): void {
  load();
}

export const PERF_FLAG_FD_CLOEXEC = 8;
