// The VM's error classes: one per kind, each carrying what the user needs to see.

import { UserError } from '../errors';

/** A runtime error of SPEC §6.2; `message` is the exact text after `error: `. */
export class RuntimeError extends Error {
  /** Index into the runtime's position table (chunk, line) of the failing instruction, or -1. */
  position = -1;
  constructor(message: string) {
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
