// Small C programs compiled for the ELF reader's tests: a PIE, a non-PIE, a shared library,
// SDT markers (hand-written notes, and <sys/sdt.h> when installed), stripped and debug-linked files.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PROGRAM = `
#include <stdio.h>
int ktap_add(int a, int b) { return a + b; }
static __attribute__((noinline)) int ktap_triple(int x) { return x * 3; }
void ktap_greet(const char *name) { printf("hi %s\\n", name); }
int main(int argc, char **argv) { ktap_greet(argv[0]); return ktap_add(argc, ktap_triple(argc)) == 0; }
`;

const LIBRARY = `
int ktaplib_square(int x) { return x * x; }
static __attribute__((noinline)) int ktaplib_hidden(int x) { return x + 1; }
int ktaplib_call(int x) { return ktaplib_hidden(x); }
static int ktaplib_chosen(void) { return 1; }
static void *ktaplib_resolve(void) { return (void *)ktaplib_chosen; }
int ktaplib_ifunc(void) __attribute__((ifunc("ktaplib_resolve")));
`;

/**
 * The note layout of <sys/sdt.h> written out, so that the tests need no systemtap-sdt-dev: a
 * nop at the marker, a .note.stapsdt entry (pc, .stapsdt.base, semaphore, provider, name,
 * arguments) and the one-byte .stapsdt.base section the notes measure prelink against.
 */
const HAND_WRITTEN_MARKERS = `
#define KTAP_MARKER(provider, name, semaphore, arguments, ...) __asm__ __volatile__ ( \\
  "990: nop\\n" \\
  ".pushsection .note.stapsdt,\\"?\\",\\"note\\"\\n" \\
  ".balign 4\\n" \\
  ".4byte 992f-991f, 994f-993f, 3\\n" \\
  "991: .asciz \\"stapsdt\\"\\n" \\
  "992: .balign 4\\n" \\
  "993: .8byte 990b\\n" \\
  ".8byte _.stapsdt.base\\n" \\
  ".8byte " semaphore "\\n" \\
  ".asciz \\"" provider "\\"\\n" \\
  ".asciz \\"" name "\\"\\n" \\
  ".asciz \\"" arguments "\\"\\n" \\
  "994: .balign 4\\n" \\
  ".popsection\\n" \\
  ".ifndef _.stapsdt.base\\n" \\
  ".pushsection .stapsdt.base,\\"aG\\",\\"progbits\\",.stapsdt.base,comdat\\n" \\
  ".weak _.stapsdt.base\\n" \\
  ".hidden _.stapsdt.base\\n" \\
  "_.stapsdt.base: .space 1\\n" \\
  ".size _.stapsdt.base, 1\\n" \\
  ".popsection\\n" \\
  ".endif\\n" \\
  :: __VA_ARGS__)

volatile unsigned short ktaptest_guarded_semaphore __attribute__((section(".probes"))) __attribute__((used));

int main(int argc, char **argv) {
  long wide = argc * 1000L;
  KTAP_MARKER("ktaptest", "plain", "0", "");
  KTAP_MARKER("ktaptest", "pair", "0", "-4@%0 8@%1 2@$7", "r"(argc), "r"(argv));
  if (argc > 5) KTAP_MARKER("ktaptest", "pair", "0", "-4@%0 8@%1 2@$7", "r"(argc + 1), "r"(argv + 1));
  if (ktaptest_guarded_semaphore) KTAP_MARKER("ktaptest", "guarded", "ktaptest_guarded_semaphore", "-8@%0", "r"(wide));
  return 0;
}
`;

const HEADER_MARKERS = `
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
unsigned short ktaphdr_pair_semaphore __attribute__((unused)) __attribute__((section(".probes")));
unsigned short ktaphdr_single_semaphore __attribute__((unused)) __attribute__((section(".probes")));
int main(int argc, char **argv) {
  STAP_PROBE2(ktaphdr, pair, argc, argv);
  if (ktaphdr_single_semaphore) STAP_PROBE1(ktaphdr, single, (long)argc * 3);
  return 0;
}
`;

const SDT_HEADER = ['/usr/include/x86_64-linux-gnu/sys/sdt.h', '/usr/include/aarch64-linux-gnu/sys/sdt.h', '/usr/include/sys/sdt.h']
  .some((path) => existsSync(path));

export interface TestPrograms {
  readonly directory: string;
  readonly pie: string;
  readonly noPie: string;
  readonly library: string;
  /** The library through `strip --strip-all`: only .dynsym is left. */
  readonly strippedLibrary: string;
  /** The PIE stripped, pointing with .gnu_debuglink at `pie.debug`. */
  readonly debugLinked: string;
  readonly markers: string;
  readonly markersNoPie: string;
  /** Built with the real <sys/sdt.h>, when it is installed. */
  readonly headerMarkers: string | undefined;
  readonly remove: () => void;
}

/** Compiles the programs into a fresh directory under the system's temporary directory. */
export function buildTestPrograms(): TestPrograms {
  const directory = mkdtempSync(join(tmpdir(), 'ktap-elf-'));
  const run = (command: string, ...args: string[]) => execFileSync(command, args, { cwd: directory, stdio: ['ignore', 'ignore', 'inherit'] });
  const source = (name: string, text: string) => {
    writeFileSync(join(directory, name), text);
    return name;
  };
  const buildId = '-Wl,--build-id=sha1';
  const program = source('program.c', PROGRAM);
  run('cc', '-O1', '-fPIE', '-pie', buildId, '-o', 'pie', program);
  run('cc', '-O1', '-fno-pie', '-no-pie', buildId, '-o', 'nopie', program);
  run('cc', '-O1', '-shared', '-fPIC', buildId, '-o', 'libktaptest.so', source('library.c', LIBRARY));
  run('strip', '--strip-all', '-o', 'libktaptest-stripped.so', 'libktaptest.so');
  run('objcopy', '--only-keep-debug', 'pie', 'pie.debug');
  run('objcopy', '--strip-all', '--add-gnu-debuglink=pie.debug', 'pie', 'pie-linked');
  const markers = source('markers.c', HAND_WRITTEN_MARKERS);
  run('cc', '-O1', buildId, '-o', 'markers', markers);
  run('cc', '-O1', '-fno-pie', '-no-pie', buildId, '-o', 'markers-nopie', markers);
  if (SDT_HEADER) run('cc', '-O1', buildId, '-o', 'header-markers', source('header-markers.c', HEADER_MARKERS));
  return {
    directory,
    pie: join(directory, 'pie'),
    noPie: join(directory, 'nopie'),
    library: join(directory, 'libktaptest.so'),
    strippedLibrary: join(directory, 'libktaptest-stripped.so'),
    debugLinked: join(directory, 'pie-linked'),
    markers: join(directory, 'markers'),
    markersNoPie: join(directory, 'markers-nopie'),
    headerMarkers: SDT_HEADER ? join(directory, 'header-markers') : undefined,
    remove: () => rmSync(directory, { recursive: true, force: true }),
  };
}
