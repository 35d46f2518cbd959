// Compile errors (SPEC §6.1): one line, `syntax error: CHUNK:LINE: MESSAGE near 'TOKEN'`.

import { EXIT_COMPILE_ERROR, UserError } from '../errors';

export class CompileError extends UserError {
  constructor(
    readonly chunk: string,
    readonly line: number,
    readonly detail: string,
    /** The token to show after `near`; absent for the checks marked † in SPEC §6.1. */
    readonly near?: string,
  ) {
    super(`syntax error: ${chunk}:${line}: ${detail}${near === undefined ? '' : ` near '${near}'`}`, 'compile', EXIT_COMPILE_ERROR);
  }

  /** The message is the whole line (SPEC §6.1). */
  override report(): string {
    return this.message;
  }
}
