// Compile errors (SPEC §6.1): one line, `syntax error: CHUNK:LINE: MESSAGE near 'TOKEN'`.

export class CompileError extends Error {
  constructor(
    readonly chunk: string,
    readonly line: number,
    readonly detail: string,
    /** The token to show after `near`; absent for the checks marked † in SPEC §6.1. */
    readonly near?: string,
  ) {
    super(`syntax error: ${chunk}:${line}: ${detail}${near === undefined ? '' : ` near '${near}'`}`);
    this.name = 'CompileError';
  }
}
