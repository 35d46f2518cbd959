// The error funnel: every failure a user can cause or meet is a UserError with its kind and
// exit status, which the faces (cli, repl) report as one line; anything else is a bug.

/** Exit statuses of SPEC-product §1. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_COMPILE_ERROR = 255;

/** Where a failure comes from, for the faces and tests (the message says what is wrong). */
export type UserErrorKind = 'usage' | 'compile' | 'bytecode' | 'file' | 'tracing' | 'elf' | 'format' | 'terminal' | 'metrics' | 'command';

/**
 * Text spanning lines (a long string, a short one continued with `\z`, a handler header)
 * cut at its first line break and marked `...`, so that a message quoting it stays one line.
 */
export function firstLine(text: string): string {
  const lineBreak = text.search(/[\r\n]/);
  return lineBreak < 0 ? text : `${text.slice(0, lineBreak)}...`;
}

export class UserError extends Error {
  constructor(
    message: string,
    readonly kind: UserErrorKind,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** The one line the user reads (without its newline). */
  report(): string {
    return `error: ${this.message}`;
  }
}

/** What ktap says about an exception that is not a UserError: a bug, with what to report. */
export function bugReport(error: unknown): string {
  const detail = error instanceof Error ? error.stack ?? `${error.name}: ${error.message}` : String(error);
  return 'ktap: internal error (a bug in ktap: please report it with the script and command line that caused it)\n' +
    `${detail}\n`;
}

/** Ends the process after an exception nothing else caught: its one line (or a bug report). */
export function exitOnUncaught(error: unknown): never {
  process.stderr.write(error instanceof UserError ? `${error.report()}\n` : bugReport(error));
  process.exit(error instanceof UserError ? error.exitCode : EXIT_FAILURE);
}
