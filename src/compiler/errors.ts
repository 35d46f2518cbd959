// Compile errors (SPEC §6.1): one line, `syntax error: CHUNK:LINE: MESSAGE near 'TOKEN'`.

import { EXIT_COMPILE_ERROR, UserError, firstLine } from '../errors';

export class CompileError extends UserError {
  /** The token to show after `near`, cut to one line; absent for the checks marked † in SPEC §6.1. */
  readonly near?: string;

  constructor(
    readonly chunk: string,
    readonly line: number,
    readonly detail: string,
    near?: string,
  ) {
    const shown = near === undefined ? undefined : firstLine(near);
    super(`syntax error: ${chunk}:${line}: ${detail}${shown === undefined ? '' : ` near '${shown}'`}`, 'compile', EXIT_COMPILE_ERROR);
    if (shown !== undefined) this.near = shown;
  }

  /** The message is the whole line (SPEC §6.1). */
  override report(): string {
    return this.message;
  }
}
