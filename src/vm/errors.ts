// The VM's error classes: one per kind, each carrying what the user needs to see.

import { UserError } from '../errors';
import type { Position } from './positions';

/** A runtime error of SPEC §6.2; `message` is ktap's exact text after `error: `. */
export class RuntimeError extends Error {
  /** Chunk and line of the failing instruction, once the runtime has placed it. */
  position: Position | undefined = undefined;
  /**
   * @param limit for errors of a sandbox limit, the option and value in force
   *   (`--max-string 1048576`), shown after the message unless ktap's bare form is asked for.
   */
  constructor(message: string, readonly limit?: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** `exit()` unwinds the current run with this; it is not an error for the user. */
export class ExitSignal extends Error {
  constructor() {
    super('exit');
    this.name = 'ExitSignal';
  }
}

/** A bytecode file that fails to load or verify: `error: bad bytecode file: REASON`. */
export class BadBytecodeError extends UserError {
  constructor(reason: string) {
    super(reason, 'bytecode');
  }

  override report(): string {
    return `error: bad bytecode file: ${this.message}`;
  }
}
