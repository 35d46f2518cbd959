// Ending the process without losing output. Node writes to a pipe at once as far as the
// pipe takes it and queues the rest; process.exit() drops that queue, so a reader slower
// than ktap (`ktap -i < input | less`, `… | (sleep 1; wc -c)`) got the first 64 KiB only.

import { EXIT_OK, exitOnUncaught } from './errors';
import { TERMINATING_SIGNALS } from './session/signals';

/**
 * How long a reader may take no byte at all before ktap exits anyway, what was still
 * queued dropped: a reader that stopped for good (a stopped pager, `| sleep 1000`) must not
 * keep ktap alive forever. A reader that keeps reading, however slowly, is waited for.
 */
export const OUTPUT_STALL_MS = 10_000;
const CHECK_MS = 20;

/** Bytes Node still holds for stdout and stderr. */
function queuedBytes(): number {
  let bytes = 0;
  for (const stream of [process.stdout, process.stderr]) {
    if (!stream.destroyed) bytes += stream.writableLength;
  }
  return bytes;
}

/**
 * Exits with CODE once everything written to stdout and stderr has been taken by their
 * readers. Waiting ends early when readers take nothing for OUTPUT_STALL_MS, or at a
 * terminating signal (Ctrl-C means "now"; a reader gone is one, see endWhenReaderGoes).
 */
export function exitAfterOutput(code: number): void {
  if (queuedBytes() === 0) process.exit(code);
  const exit = (): never => process.exit(code);
  for (const signal of TERMINATING_SIGNALS) process.on(signal, exit);
  let queued = queuedBytes();
  let stalledSince = performance.now();
  setInterval(() => {
    const now = queuedBytes();
    if (now === 0) exit();
    if (now < queued) stalledSince = performance.now();
    else if (performance.now() - stalledSince >= OUTPUT_STALL_MS) exit();
    queued = now;
  }, CHECK_MS);
}

/**
 * A reader of stdout or stderr that goes away (EPIPE; EIO from a hung-up terminal) ends
 * ktap as SIGTERM does: a session that is running ends cleanly (its signal handlers run),
 * anything else exits 0 at once, with nothing on stderr. Other write errors are bugs.
 */
export function endWhenReaderGoes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'EIO') exitOnUncaught(error);
      if (process.listenerCount('SIGTERM') > 0) process.emit('SIGTERM', 'SIGTERM');
      else process.exit(EXIT_OK);
    });
  }
}
