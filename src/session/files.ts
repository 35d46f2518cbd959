// The files a run names: a script (or bytecode file) must be a regular file within a size
// limit, the -o output is never one of the run's inputs; system errors in plain words.

import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { UserError } from '../errors';

/** The largest script or bytecode file read (docs/files.md); sources are kilobytes. */
export const SCRIPT_SIZE_LIMIT = 16 * 1024 * 1024;

/** A file that cannot be used: the message names it and says why (`error: …`, exit 1). */
export class FileError extends UserError {
  constructor(message: string) {
    super(message, 'file');
  }
}

/**
 * The bytes of the script at `path`: a regular file (not a device, FIFO or directory) of at
 * most SCRIPT_SIZE_LIMIT bytes. The size is checked while reading too: files in /proc say 0.
 */
export function readScriptFile(path: string): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer before it is refused.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new FileError(`cannot open ${path}: ${systemMessage(error)}`);
  }
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw new FileError(`cannot read ${path}: it is a directory`);
    if (!stats.isFile()) throw new FileError(`cannot read ${path}: not a regular file (a script must be one)`);
    if (stats.size > SCRIPT_SIZE_LIMIT) throw tooLarge(path);
    const chunk = Buffer.allocUnsafe(Math.min(Math.max(stats.size + 1, 64 * 1024), SCRIPT_SIZE_LIMIT + 1));
    const chunks: Buffer[] = [];
    let total = 0;
    for (let read; (read = readSync(fd, chunk, 0, chunk.length, null)) > 0; ) {
      total += read;
      if (total > SCRIPT_SIZE_LIMIT) throw tooLarge(path);
      chunks.push(Buffer.from(chunk.subarray(0, read)));
    }
    return Buffer.concat(chunks, total);
  } catch (error) {
    if (error instanceof FileError) throw error;
    throw new FileError(`cannot read ${path}: ${systemMessage(error)}`);
  } finally {
    closeSync(fd);
  }
}

function tooLarge(path: string): FileError {
  return new FileError(`cannot read ${path}: larger than ${SCRIPT_SIZE_LIMIT / (1024 * 1024)} MiB, the limit for a script`);
}

/**
 * Opens `path` for writing (-o, --save-bytecode), truncating it, unless it is one of
 * `inputs` (the same file by device and inode, whatever the names): `ktap -o x.kp x.kp`
 * must not destroy the script before reading it.
 */
export function openOutputFile(path: string, inputs: readonly string[], option: string): number {
  refuseInputAsOutput(path, inputs, option);
  try {
    return openSync(path, 'w');
  } catch (error) {
    throw new FileError(`cannot open output file ${path}: ${systemMessage(error)}`);
  }
}

export function refuseInputAsOutput(path: string, inputs: readonly string[], option: string): void {
  const output = statIfPresent(path);
  if (output === null) return;
  for (const input of inputs) {
    const stats = statIfPresent(input);
    if (stats !== null && stats.dev === output.dev && stats.ino === output.ino) {
      throw new FileError(`${option} ${path} is the script ${input}: refusing to overwrite it`);
    }
  }
}

function statIfPresent(path: string): { dev: number; ino: number } | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** The human part of a Node system error: "No such file or directory", … */
export function systemMessage(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EISDIR: 'Is a directory',
    ENOTDIR: 'Not a directory',
    ENOSPC: 'No space left on device',
    EIO: 'Input/output error',
    EROFS: 'Read-only file system',
    EFBIG: 'File too large',
    EDQUOT: 'Disk quota exceeded',
    EINVAL: 'Invalid argument',
    ELOOP: 'Too many levels of symbolic links',
  };
  return (code !== undefined && known[code]) || (error as Error).message;
}
