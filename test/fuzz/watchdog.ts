// A hang detector for in-process fuzzing: a worker thread watches a heartbeat the fuzzing
// loop writes into shared memory; an input running longer than the limit is saved from that
// shared copy and the process is killed, since the blocked main thread can do neither.

import { Worker } from 'node:worker_threads';
import { CRASH_DIRECTORY } from './crashes';

/** Longest input the shared copy holds; a longer one is saved cut to this size. */
const MAX_SAVED_BYTES = 1 << 20;
/** Slots of the shared state: inputs started, whether one is running, its length. */
const STARTED = 0;
const RUNNING = 1;
const LENGTH = 2;

// Plain JavaScript (an eval worker needs no TypeScript loader).
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { state, bytes, limitMs, directory, label } = workerData;
let seen = -1;
let since = Date.now();
setInterval(() => {
  const started = Atomics.load(state, ${STARTED});
  if (started !== seen || Atomics.load(state, ${RUNNING}) === 0) {
    seen = started;
    since = Date.now();
    return;
  }
  if (Date.now() - since < limitMs) return;
  fs.mkdirSync(directory, { recursive: true });
  const file = path.join(directory, label + '-input' + (started - 1) + '-hang');
  fs.writeFileSync(file, bytes.subarray(0, Atomics.load(state, ${LENGTH})));
  fs.writeSync(2, label + ': hang: input ' + (started - 1) + ' ran over ' + limitMs + ' ms, saved as ' + file + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, 100);
`;

export class Watchdog {
  private readonly state = new Int32Array(new SharedArrayBuffer(3 * 4));
  private readonly bytes = new Uint8Array(new SharedArrayBuffer(MAX_SAVED_BYTES));
  private readonly worker: Worker;

  /** `label` names the saved file (fuzzer and seed); `limitMs` is the longest an input may run. */
  constructor(label: string, limitMs: number) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { state: this.state, bytes: this.bytes, limitMs, directory: CRASH_DIRECTORY, label },
    });
    this.worker.unref();
  }

  /** Before an input runs: keeps a copy of it for the worker to save. */
  begin(input: Uint8Array | string): void {
    const length = Math.min(input.length, MAX_SAVED_BYTES);
    if (typeof input === 'string') {
      for (let index = 0; index < length; index++) this.bytes[index] = input.charCodeAt(index);
    } else {
      this.bytes.set(input.subarray(0, length));
    }
    Atomics.store(this.state, LENGTH, length);
    Atomics.add(this.state, STARTED, 1);
    Atomics.store(this.state, RUNNING, 1);
  }

  end(): void {
    Atomics.store(this.state, RUNNING, 0);
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }
}
