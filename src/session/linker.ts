// Loading code into a session: source compiled (or a bytecode file read and verified), then
// linked to the session's runtime and globals. The linker also keeps the session variables
// (the REPL's inputs, a script's top-level variables with --tui/--metrics/--hosts, a fleet
// agent's), one cell each, so that code loaded later shares them.

import { compile } from '../compiler';
import { readBytecodeFile } from '../vm/bytecode-file';
import { BadBytecodeError } from '../vm/errors';
import { globalsRead } from '../vm/hints';
import { GLOBAL_NAMES, capturingBuiltins } from '../vm/lib/index';
import type { Proto } from '../vm/proto';
import type { Runtime } from '../vm/runtime';
import { Cell, translate } from '../vm/translate';
import type { KFunction, Value } from '../vm/value';

/** The builtins whose events must carry a kernel or user stack (from the builtin registry). */
const KERNEL_STACK_BUILTINS = capturingBuiltins('kernelStack');
const USER_STACK_BUILTINS = capturingBuiltins('userStack');

export class SessionLinker {
  /** Session variables: name → slot, and each slot's cell. */
  private readonly slots = new Map<string, number>();
  private readonly cells: Cell[] = [];
  /** Whether any code loaded calls stack() / ustack() (SPEC §5.4): events then carry them. */
  readonly stackUse = { kernel: false, user: false };

  constructor(private readonly rt: Runtime, private readonly globals: Map<string, Value>) {}

  /** Compiles a script; with `sessionScope` its top-level variables become session variables. */
  compileScript(source: string, chunkName: string, sessionScope: boolean): { proto: Proto; main: KFunction } {
    if (sessionScope) return this.linkInSession(compile(source, chunkName, { globals: GLOBAL_NAMES, session: this.scope() }));
    const { main } = compile(source, chunkName, { globals: GLOBAL_NAMES });
    return { proto: main, main: this.link(main) };
  }

  /** Compiles `source` against the session variables, declaring and linking nothing (CompileError if it fails). */
  checkCompiles(source: string, chunkName: string): void {
    compile(source, chunkName, { globals: GLOBAL_NAMES, session: this.scope() });
  }

  /**
   * Loads a verified bytecode file (BadBytecodeError on a bad one). With `sessionVariables`
   * (a fleet agent) its main function may take session upvalues: the script's top-level
   * variables, compiled as the coordinator's session variables, become this session's, by
   * the names the file carries, so their tables can be streamed by name. `slotLimit`: the
   * session variables' numbers stay below it (a script's are numbered from 0, so its own
   * count by default; a REPL input may use any variable earlier inputs declared).
   */
  loadBytecode(bytes: Uint8Array, sessionVariables: boolean, slotLimit?: number): KFunction {
    const proto = readBytecodeFile(bytes, GLOBAL_NAMES, { allowSessionUpvalues: sessionVariables });
    for (const upvalue of proto.upvalues) {
      if (upvalue.index >= (slotLimit ?? proto.upvalues.length)) throw new BadBytecodeError(`session variable ${upvalue.index} out of range`);
      this.cells[upvalue.index] ??= new Cell();
      this.slots.set(upvalue.name, upvalue.index);
    }
    return this.link(proto);
  }

  /** The session variables and their cells, in declaration order. */
  *variables(): Generator<readonly [string, Cell]> {
    for (const [name, slot] of this.slots) yield [name, this.cells[slot]!] as const;
  }

  /** The cell of the session variable `name`, if there is one. */
  cell(name: string): Cell | undefined {
    const slot = this.slots.get(name);
    return slot === undefined ? undefined : this.cells[slot];
  }

  private scope(): { slots: ReadonlyMap<string, number>; slotCount: number } {
    return { slots: this.slots, slotCount: this.cells.length };
  }

  private linkInSession(result: ReturnType<typeof compile>): { proto: Proto; main: KFunction } {
    for (const { name, slot } of result.newSessionVariables) {
      this.cells[slot] = new Cell();
      this.slots.set(name, slot);
    }
    return { proto: result.main, main: this.link(result.main) };
  }

  private link(proto: Proto): KFunction {
    if (globalsRead(proto, KERNEL_STACK_BUILTINS).size > 0) this.stackUse.kernel = true;
    if (globalsRead(proto, USER_STACK_BUILTINS).size > 0) this.stackUse.user = true;
    const makeMain = translate(proto, this.rt, this.globals);
    return makeMain(proto.upvalues.map((upvalue) => this.cells[upvalue.index]!));
  }
}
