// Inputs whose size alone once broke the compiler, the translator or the listing: each is
// handled in time roughly linear in its size, with no JS stack overflow.

import t from 'tap';
import { compile } from '../../src/compiler';
import { disassemble } from '../../src/vm/disasm';
import { GLOBAL_NAMES } from '../../src/vm/lib/index';
import { structure } from '../../src/vm/structure';
import { readBytecodeFile, writeBytecodeFile } from '../../src/vm/bytecode-file';
import { runInSandbox } from '../fuzz/sandbox';
import { buildProto, type Instruction } from '../vm/build-proto';

// Generous bounds for a loaded machine: before the fixes these took minutes or crashed.
const GENEROUS_MS = 30_000;

t.test('a 1.5 MB table constructor compiles and lists', async (t) => {
  const items = Array.from({ length: 200_000 }, (_, index) => String(index)).join(',');
  const main = compile(`var t = {${items}}\nprint(len(t))`, 'big.kp', { globals: GLOBAL_NAMES }).main;
  const listing = disassemble(main);
  t.match(listing, /K199999 +199999\n/);
  t.match(listing, /RETNIL\n$/);
});

t.test('30,000 elseifs and 20,000 ifs compile and run (minutes when structure recovery was quadratic)', async (t) => {
  const elseifs = `var x = 29999\nif (x == -1) { x = 0 }\n${Array.from({ length: 30_000 }, (_, index) => `elseif (x == ${index}) { x = -${index} }`).join('\n')}\nprint(x)`;
  const ifs = `var x = 1\n${Array.from({ length: 20_000 }, (_, index) => `if (x == ${index}) { x = x + 1 }`).join('\n')}\nprint(x)`;
  for (const [name, source] of [['elseifs', elseifs], ['ifs', ifs]] as const) {
    const start = performance.now();
    const main = compile(source, `${name}.kp`, { globals: GLOBAL_NAMES }).main;
    const messages: string[] = [];
    const outcome = runInSandbox(main, false, (message) => messages.push(message));
    const elapsed = performance.now() - start;
    t.ok(outcome === 'ok' || messages[0]?.startsWith('loop execute count exceed'), `${name}: ${outcome} ${messages.join('')}`);
    t.ok(elapsed < GENEROUS_MS, `${name}: ${Math.round(elapsed)} ms`);
  }
});

t.test('structure recovery: blocks nested deeper than a JS parser takes fall back to the switch', async (t) => {
  // Forward jumps nested 5,000 deep, as only hand-made bytecode has them.
  const depth = 5_000;
  const jumps = Array.from({ length: depth }, (_, pc) => [pc, 2 * depth - pc] as const);
  t.equal(structure(jumps), null);
  t.ok(structure(jumps.slice(depth - 100)) !== null, '100 deep is structured');
  const code: Instruction[] = jumps.map(([pc, target]) => ['JMPF', 0, target - (pc + 1)]);
  for (let pc = depth; pc <= 2 * depth; pc++) code.push(['LOADNIL', 1]);
  code.push(['RETNIL']);
  const proto = readBytecodeFile(writeBytecodeFile(buildProto({ code })), GLOBAL_NAMES);
  t.equal(runInSandbox(proto), 'ok');
});
