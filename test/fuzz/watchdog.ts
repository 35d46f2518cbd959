// A hang detector for in-process fuzzing: a worker thread watches a heartbeat the fuzzing
// loop writes into shared memory; an input running longer than the limit is saved from that
// shared copy and the process is killed, since the blocked main thread can do neither.
//
// "Longer" is CPU time of the main thread (from /proc), not wall time: on a machine shared
// with other work an input that takes 5 ms of CPU may take a second of wall time, and that
// is no hang. An input that blocks without using CPU is caught by a wall-time bound
// WALL_FACTOR times the limit.

import { Worker } from 'node:worker_threads';
import { CRASH_DIRECTORY } from './crashes';

/** Longest input the shared copy holds; a longer one is saved cut to this size. */
const MAX_SAVED_BYTES = 1 << 20;
/** An input blocked (using no CPU) this many times the limit in wall time is a hang too. */
export const WALL_FACTOR = 15;
/** Slots of the shared state: inputs started, whether one is running, its length, its index. */
const STARTED = 0;
const RUNNING = 1;
const LENGTH = 2;
const INDEX = 3;

// Plain JavaScript (an eval worker needs no TypeScript loader). The main thread's CPU time
// is utime + stime of /proc/self/task/PID/stat (its thread id is the process id), in clock
// ticks of 10 ms.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { state, bytes, limitMs, wallFactor, directory, label } = workerData;
const statPath = '/proc/self/task/' + process.pid + '/stat';
function cpuMs() {
  try {
    const stat = fs.readFileSync(statPath, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Date.now();
  }
}
let seen = -1;
let sinceWall = Date.now();
let sinceCpu = cpuMs();
setInterval(() => {
  const started = Atomics.load(state, ${STARTED});
  if (started !== seen || Atomics.load(state, ${RUNNING}) === 0) {
    seen = started;
    sinceWall = Date.now();
    sinceCpu = cpuMs();
    return;
  }
  const cpu = cpuMs() - sinceCpu;
  const wall = Date.now() - sinceWall;
  if (cpu <= limitMs && wall <= limitMs * wallFactor) return;
  fs.mkdirSync(directory, { recursive: true });
  const index = Atomics.load(state, ${INDEX});
  const file = path.join(directory, label + '-input' + index + '-hang');
  fs.writeFileSync(file, bytes.subarray(0, Atomics.load(state, ${LENGTH})));
  fs.writeSync(2, label + ': hang: input ' + index + ' ran ' + cpu + ' ms of CPU (' + wall + ' ms) past the limit of ' + limitMs + ' ms, saved as ' + file + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, 100);
`;

export class Watchdog {
  private readonly state = new Int32Array(new SharedArrayBuffer(4 * 4));
  private readonly bytes = new Uint8Array(new SharedArrayBuffer(MAX_SAVED_BYTES));
  private readonly worker: Worker;

  /** `label` names the saved file (fuzzer and seed); `limitMs` is the most CPU time an input may take. */
  constructor(label: string, limitMs: number) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { state: this.state, bytes: this.bytes, limitMs, wallFactor: WALL_FACTOR, directory: CRASH_DIRECTORY, label },
    });
    this.worker.unref();
  }

  /** Before input INDEX runs: keeps a copy of it for the worker to save. */
  begin(input: Uint8Array | string, index: number): void {
    const length = Math.min(input.length, MAX_SAVED_BYTES);
    if (typeof input === 'string') {
      for (let at = 0; at < length; at++) this.bytes[at] = input.charCodeAt(at);
    } else {
      this.bytes.set(input.subarray(0, length));
    }
    Atomics.store(this.state, LENGTH, length);
    Atomics.store(this.state, INDEX, index);
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
