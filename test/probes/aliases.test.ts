// Aliases (several symbols at one address) under a uprobe glob: the ELF reader's choice of
// one name per address, and against the real kernel one probe per address, so that a call
// of an aliased function counts once.

import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElfFile, onePerAddress } from '../../src/probes/elf';
import { ktap, tracingUnavailable, uprobesUnavailable } from '../support/tracing';
import { scratchDirectory } from '../support/workloads';

// ktalias_square has four more names: the shorter unprefixed ktalias_sq wins over the
// longer, the `_`-prefixed and the local (shortest) one.
const LIBRARY = `
__attribute__((noinline, noipa)) int ktalias_square(int x) { return x * x; }
int ktalias_sq(int x) __attribute__((alias("ktalias_square")));
int ktalias_sz(int x) __attribute__((alias("ktalias_square")));
int __ktalias_s(int x) __attribute__((alias("ktalias_square")));
static int ktalias_q(int x) __attribute__((alias("ktalias_square"), used));
__attribute__((noinline, noipa)) int ktalias_cube(int x) { return x * x * x; }
int ktalias_call(int (*f)(int), int x) { return f(x) + ktalias_q(x); }
`;

const PROGRAM = `
#include <stdlib.h>
int ktalias_sq(int x);
int ktalias_square(int x);
int ktalias_cube(int x);
int main(int argc, char **argv) {
  long count = argc > 1 ? atol(argv[1]) : 0, total = 0;
  for (long i = 0; i < count; i++) total += ktalias_sq((int)i) + ktalias_square((int)i) + ktalias_cube((int)i);
  return (int)(total & 1) * 0;
}
`;

const directory = scratchDirectory(t, 'aliases');
const library = join(directory, 'libktalias.so');
const program = join(directory, 'ktalias');
writeFileSync(join(directory, 'library.c'), LIBRARY);
writeFileSync(join(directory, 'program.c'), PROGRAM);
execFileSync('cc', ['-O1', '-shared', '-fPIC', '-o', library, join(directory, 'library.c')]);
execFileSync('cc', ['-O1', '-o', program, join(directory, 'program.c'), `-L${directory}`, '-lktalias', `-Wl,-rpath,${directory}`]);

t.test('one symbol per address: exported, then without a leading _, then shortest, then by name', async (t) => {
  const elf = ElfFile.open(library);
  const matched = elf.findSymbols('*ktalias_[sq]*');
  t.strictSame(matched.map((symbol) => symbol.name).sort(), ['__ktalias_s', 'ktalias_q', 'ktalias_sq', 'ktalias_square', 'ktalias_sz']);
  t.equal(new Set(matched.map((symbol) => symbol.address)).size, 1, 'all five are one address');
  t.strictSame(onePerAddress(matched).map((symbol) => symbol.name), ['ktalias_sq']);
  t.strictSame(onePerAddress(elf.findSymbols('__ktalias*')).map((symbol) => symbol.name), ['__ktalias_s'], 'only the names the glob matched compete');
  t.strictSame(onePerAddress(elf.findSymbols('ktalias_[qs]*')).map((symbol) => symbol.name), ['ktalias_sq']);
  t.strictSame(onePerAddress(elf.findSymbols('ktalias_q')).map((symbol) => symbol.name), ['ktalias_q'], 'an exact name is that name');
  t.strictSame(onePerAddress(elf.findSymbols('ktalias_cube')).map((symbol) => symbol.binding), ['global']);
});

const reason = tracingUnavailable() ?? uprobesUnavailable();
t.test('a glob over the library: each call of the aliased function counts once, under the preferred name', { skip: reason ?? false }, async (t) => {
  const script = 'var n = {} trace probe:' + library + ':ktalias_* { n[probename] += 1 } ' +
    'trace_end { print(n["ktalias_sq"], n["ktalias_square"], n["ktalias_cube"], n["ktalias_sz"], n["ktalias_q"]) }';
  const result = spawnSync(process.execPath, [ktap, '-q', '-v', '-e', script, '--', program, '300'], { encoding: 'utf8' });
  t.equal(result.status, 0, result.stderr);
  t.equal(result.stdout, '600\tnil\t300\tnil\tnil\n', 'ktalias_sq and ktalias_square are one probe (two calls an iteration)');
  t.match(result.stderr, /ktalias_\*: 6 symbols at 3 addresses, 3 aliases folded \(one probe per address\)/);
});
