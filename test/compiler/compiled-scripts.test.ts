// Every golden script and sample that compiles must give bytecode the verifier accepts,
// that survives a bytecode-file round trip unchanged and that disassembles: this catches
// the compiler and the verifier (or the file format) disagreeing about what is valid.

import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { compile, CompileError } from '../../src/compiler/index';
import { readBytecodeFile, writeBytecodeFile } from '../../src/vm/bytecode-file';
import { disassemble } from '../../src/vm/disasm';
import { GLOBAL_NAMES } from '../../src/vm/lib/index';
import { verifyProto } from '../../src/vm/verify';
import type { Proto } from '../../src/vm/proto';

const repoRoot = resolve(__dirname, '..', '..');

function scripts(directory: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) found.push(...scripts(path));
    else if (entry.name.endsWith('.kp')) found.push(path);
  }
  return found.sort();
}

function compiled(path: string): Proto | undefined {
  const name = relative(repoRoot, path);
  try {
    return compile(readFileSync(path, 'latin1'), name, { globals: GLOBAL_NAMES }).main;
  } catch (error) {
    if (error instanceof CompileError) return undefined;
    throw error;
  }
}

const files = [...scripts(join(repoRoot, 'test', 'golden')), ...scripts(join(repoRoot, 'samples'))];

t.test('compiled scripts verify, round-trip and disassemble', async (t) => {
  let checked = 0;
  for (const path of files) {
    const name = relative(repoRoot, path);
    const main = compiled(path);
    if (main === undefined) continue;
    checked++;
    try {
      verifyProto(main, { globals: GLOBAL_NAMES, allowSessionUpvalues: false });
    } catch (error) {
      t.fail(`${name}: the verifier rejects the compiler's code: ${(error as Error).message}`);
      continue;
    }
    let reread: Proto;
    try {
      reread = readBytecodeFile(writeBytecodeFile(main), GLOBAL_NAMES);
    } catch (error) {
      t.fail(`${name}: bytecode file round trip: ${(error as Error).message}`);
      continue;
    }
    if (!t.strictSame(reread, main, `${name}: round trip`)) continue;
    const listing = disassemble(main);
    if (!listing.includes("function 'main'")) t.fail(`${name}: listing without the main function header`);
  }
  // The scripts must really be there: a wrong path would make this test pass vacuously.
  t.ok(files.length >= 100, `found ${files.length} scripts`);
  t.ok(checked >= files.length / 2, `${checked} of ${files.length} compile`);
});
