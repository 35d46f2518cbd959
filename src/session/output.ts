// Script output (SPEC-product §7): a buffered byte writer flushed at least every 100 ms and
// at exit, with a text sink (what print/printf write) and a JSON-lines sink (--json).

import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { systemMessage } from './files';
import type { OutputSink } from '../vm/runtime';
import type { Position } from '../vm/positions';
import { MAX_SAFE, fromBigInt, toDisplayString, type Value } from '../vm/value';
import { KTuple } from '../vm/tuple';
import type { Bucket, BucketKind } from '../vm/lib/buckets';

const FLUSH_INTERVAL_MS = 100;
const FLUSH_BYTES = 64 * 1024;

/**
 * Collects byte strings and writes them to a file descriptor in large chunks. A reader going
 * away is told to onClosed; any other write error (ENOSPC, EIO on a file, a file refusing
 * writes) is kept in `failure` and told to onFailure once (docs/files.md). Either way,
 * output is dropped from then on.
 */
export class BufferedWriter {
  private chunks: string[] = [];
  private size = 0;
  private timer: NodeJS.Timeout | null = null;
  /**
   * Where flushed text goes instead of the file descriptor, when set: the REPL prints it
   * above the line being edited, the dashboard into its output log.
   */
  redirect: ((text: string) => void) | null = null;
  /** Told once when the reader of the output goes away (EPIPE, a hung-up terminal); later output is dropped. */
  onClosed: (() => void) | null = null;
  private closed = false;
  /** `cannot write to NAME: REASON` once a write failed. */
  failure: string | null = null;
  onFailure: (() => void) | null = null;
  /** A terminal: EIO there means it hung up, not a failing disk. */
  private readonly terminal: boolean;

  /** NAME: the -o path, or `standard output`. */
  constructor(
    private readonly fd: number,
    private readonly name = 'standard output',
  ) {
    this.terminal = isatty(fd);
  }

  write(text: string): void {
    if (text.length === 0) return;
    this.chunks.push(text);
    this.size += text.length;
    if (this.size >= FLUSH_BYTES) this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.size === 0) return;
    const text = this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    if (this.redirect !== null) this.redirect(text);
    else if (this.failure === null && !this.closed) {
      try {
        if (!writeAll(this.fd, Buffer.from(text, 'latin1'), this.terminal)) {
          this.closed = true;
          this.onClosed?.();
        }
      } catch (error) {
        this.failure = `cannot write to ${this.name}: ${systemMessage(error)}`;
        this.onFailure?.();
      }
    }
  }
}

/**
 * writeSync until everything is written. A non-blocking pipe may answer EAGAIN while its
 * reader is slow: then it waits a millisecond rather than spinning. Returns false when the
 * reader went away (EPIPE, e.g. `| head`) or the terminal hung up (EIO on a terminal): the
 * rest is dropped quietly. Any other error (ENOSPC, EIO on a file) is thrown.
 */
export function writeAll(fd: number, bytes: Uint8Array, terminal = isatty(fd)): boolean {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') Atomics.wait(PAUSE, 0, 0, 1);
      else if (code === 'EPIPE' || (code === 'EIO' && terminal)) return false;
      else throw error;
    }
  }
  return true;
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** A trace-clock time as `SECONDS.MICROSECONDS` (the format of print_trace_clock, -T). */
export function formatClock(ns: bigint): string {
  const micros = ns / 1000n;
  return `${(micros / 1_000_000n).toString().padStart(5)}.${(micros % 1_000_000n).toString().padStart(6, '0')}`;
}

/** Output as the original tool wrote it. */
export class TextSink implements OutputSink {
  /** Written before each output of a handler run (-T timestamps); empty otherwise. */
  private prefix = '';
  constructor(private readonly writer: BufferedWriter) {}
  /** -T: the trace-clock time of the event whose handler is running, or null outside one. */
  set timestamp(ns: bigint | null) {
    this.prefix = ns === null ? '' : formatClock(ns) + ' ';
  }
  print(values: readonly Value[]): void {
    this.writer.write(this.prefix + values.map(toDisplayString).join('\t') + '\n');
  }
  printf(text: string): void {
    this.writer.write(this.prefix + text);
  }
  hist(_rows: ReadonlyArray<{ key: Value; count: number | bigint }>, _more: number, text: string): void {
    this.writer.write(this.prefix + text);
  }
  buckets(_kind: BucketKind, _buckets: readonly Bucket[], text: string): void {
    this.writer.write(this.prefix + text);
  }
  error(message: string, position?: Position): void {
    this.writer.write(`error: ${position === undefined ? '' : `${position.chunk}:${position.line}: `}${message}\n`);
  }
  banner(): void {
    this.writer.write('Tracing... Hit Ctrl-C to end.\n');
  }
  /** The line SPEC §3.10 writes on SIGINT before ending. */
  interrupted(): void {
    this.writer.write('\n');
  }
}

/** One JSON object per line (SPEC §7.1). */
export class JsonSink implements OutputSink {
  /** -T: `"time":…,"time_ns":…,` fields of the running event, put after each object's type. */
  private stamp = '';
  constructor(private readonly writer: BufferedWriter) {}
  /** -T: the trace-clock time of the event whose handler is running, or null outside one. */
  set timestamp(ns: bigint | null) {
    this.stamp = ns === null ? '' : `"time":${jsonString(formatClock(ns).trimStart())},"time_ns":${jsonValue(fromBigInt(ns))},`;
  }
  /** One object: its type, the -T fields, then `fields` (JSON members without braces). */
  private line(type: string, fields: string): void {
    this.writer.write(`{"type":"${type}",${this.stamp}${fields}}\n`);
  }
  print(values: readonly Value[]): void {
    this.line('print', `"values":[${values.map(jsonValue).join(',')}]`);
  }
  printf(text: string): void {
    this.line('printf', `"text":${jsonString(text)}`);
  }
  hist(rows: ReadonlyArray<{ key: Value; count: number | bigint }>, more: number): void {
    const rendered = rows.map((row) => `{"key":${jsonValue(row.key)},"count":${jsonValue(row.count)}}`);
    this.line('hist', `"rows":[${rendered.join(',')}],"more":${more}`);
  }
  /** Each bucket as {"from","to","count"}: `from` inclusive, `to` exclusive, null for an open end. */
  buckets(kind: BucketKind, buckets: readonly Bucket[]): void {
    const bound = (value: number | bigint | null): string => (value === null ? 'null' : jsonValue(value));
    const rendered = buckets.map((bucket) => `{"from":${bound(bucket.from)},"to":${bound(bucket.to)},"count":${jsonValue(bucket.count)}}`);
    this.line(kind, `"buckets":[${rendered.join(',')}]`);
  }
  error(message: string, position?: Position): void {
    const where = position === undefined ? '' : `,"chunk":${jsonString(position.chunk)},"line":${position.line}`;
    this.line('error', `"message":${jsonString(message)}${where}`);
  }
  banner(): void {
    this.writer.write('{"type":"banner"}\n');
  }
  interrupted(): void {
    // SIGINT's newline is a text-terminal nicety; a JSON feed has no place for it.
  }
}

export type ScriptSink = TextSink | JsonSink;

export function jsonValue(value: Value): string {
  switch (typeof value) {
    case 'undefined': return 'null';
    case 'boolean': return value ? 'true' : 'false';
    case 'number': return Math.abs(value) <= MAX_SAFE ? String(value) : `"${value}"`;
    case 'bigint': return `"${value}"`;
    case 'string': return jsonString(value);
    default:
      if (value instanceof KTuple) return `[${value.parts.map(jsonValue).join(',')}]`;
      return `{"ref":${jsonString(toDisplayString(value))}}`;
  }
}

/**
 * A byte string as a JSON string: valid UTF-8 sequences stay as they are, other bytes
 * become `\u00XX` (SPEC §7.1). The result is a byte string too (the writer writes it as
 * latin1), so a UTF-8 sequence is copied byte for byte, not decoded.
 */
export function jsonString(bytes: string): string {
  let out = '"';
  for (let index = 0; index < bytes.length; ) {
    const byte = bytes.charCodeAt(index);
    const length = utf8SequenceLength(bytes, index);
    if (length === 0) {
      out += '\\u00' + byte.toString(16).padStart(2, '0');
      index++;
    } else if (length === 1) {
      out += escapeAscii(byte);
      index++;
    } else {
      out += bytes.slice(index, index + length);
      index += length;
    }
  }
  return out + '"';
}

function escapeAscii(code: number): string {
  switch (code) {
    case 0x22: return '\\"';
    case 0x5c: return '\\\\';
    case 0x0a: return '\\n';
    case 0x0d: return '\\r';
    case 0x09: return '\\t';
    default: return code < 0x20 || code === 0x7f ? '\\u' + code.toString(16).padStart(4, '0') : String.fromCharCode(code);
  }
}

/** Length of the valid UTF-8 sequence at `index`, 1 for ASCII, 0 when the byte starts none. */
function utf8SequenceLength(bytes: string, index: number): number {
  const first = bytes.charCodeAt(index);
  if (first < 0x80) return 1;
  let length: number;
  let minimum: number;
  if (first >= 0xc2 && first <= 0xdf) [length, minimum] = [2, 0x80];
  else if (first >= 0xe0 && first <= 0xef) [length, minimum] = [3, 0x800];
  else if (first >= 0xf0 && first <= 0xf4) [length, minimum] = [4, 0x10000];
  else return 0;
  if (index + length > bytes.length) return 0;
  let code = first & (0x3f >> (length - 1));
  for (let offset = 1; offset < length; offset++) {
    const next = bytes.charCodeAt(index + offset);
    if ((next & 0xc0) !== 0x80) return 0;
    code = (code << 6) | (next & 0x3f);
  }
  if (code < minimum || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}
