// Live tracing benchmarks on the real kernel: the overhead ktap adds to a traced workload
// (against bpftrace and the bare ring buffer), start-up and attach/teardown times, and peak
// RSS under load. Used by bench/run.mjs (sections overhead, attach, rss); needs root and tracefs.
//
// The workload is bench/e2e/getppid-loop.c, compiled with `cc` into a temporary directory
// and run pinned to the last CPU; the tracers run pinned to CPU 0, so a reader that keeps
// up has a core of its own. Everything made in tracefs is removed again; the only instance
// the harness itself creates is `ktapbench-PID-N` (the ring-buffer floor and the tracefs
// attach floor), never a `ktap-*` one.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const KTAP_BIN = join(ROOT, 'bin', 'ktap');
const TRACEFS = '/sys/kernel/tracing';
const INSTANCES = join(TRACEFS, 'instances');
const BANNER = 'Tracing... Hit Ctrl-C to end.';
/** ktap's default ring buffer per CPU (DEFAULT_BUFFER_KB in src/probes/tracer.ts). */
const KTAP_BUFFER_KB = 4096;
/** The workload's comm, which both tracers count by. */
const COMM = 'getppid-loop';
const READY_TIMEOUT_MS = 60_000;
const SETTLE_MS = 50;

export const TARGETS = {
  /** ktap's ns added per call ≤ bpftrace's. */
  overheadRatio: 1,
  /** ktap start to banner ≤ 0.4 × bpftrace's `BEGIN { exit() }`. */
  startRatio: 0.4,
  /** syscalls:* start → banner plus SIGINT → exit. */
  attachAllSeconds: 0.2,
  /** Kernel tier: ns added per call ≤ 0.6 × bpftrace's. */
  kernelOverheadRatio: 0.6,
  /** Kernel tier: attach + teardown of a syscalls:sys_enter_* count (ms). */
  kernelAttachMs: 50,
  /** Kernel tier: start → banner grows by at most this over the user tier (ms). */
  kernelStartGrowthMs: 15,
  /** Two saturating workloads: ktap's CPU time ≤ this share of theirs. */
  saturationCpuShare: 0.02,
  rssMB: 72,
};

export const COUNT_SCRIPT = `var s = {} trace syscalls:sys_enter_getppid { s[execname] += 1 } trace_end { print_hist(s) }`;
const BPFTRACE_COUNT = 'BEGIN { printf("ready\\n"); } tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }';

// ---------------------------------------------------------------------------------------
// Can we run at all?

/** Why the live benchmarks cannot run here, or null when they can. */
export function liveUnavailable() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root';
  if (!existsSync(join(TRACEFS, 'available_events'))) return `no tracefs at ${TRACEFS}`;
  if (!existsSync(join(TRACEFS, 'events', 'syscalls', 'sys_enter_getppid'))) return 'no syscalls:sys_enter_getppid tracepoint';
  if (!existsSync(join(ROOT, 'dist', 'ktap.js'))) return 'dist/ktap.js missing (node build.mjs)';
  return null;
}

/** bpftrace's version, installing it (apt-get) when missing and allowed; null if unavailable. */
export function ensureBpftrace(log, install = true) {
  const version = () => {
    const result = spawnSync('bpftrace', ['--version'], { encoding: 'utf8' });
    return result.status === 0 ? result.stdout.trim() : null;
  };
  let found = version();
  if (found !== null || !install) return found;
  log('bpftrace not found; installing: apt-get update && apt-get install -y bpftrace\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update'], { stdio: 'ignore', env });
  if (update.status === 0) spawnSync('apt-get', ['install', '-y', 'bpftrace'], { stdio: 'ignore', env });
  found = version();
  if (found === null) log('installing bpftrace failed: bpftrace figures are left out.\n');
  return found;
}

// ---------------------------------------------------------------------------------------
// Processes

const children = new Set();

/** Kills the processes this module started (by pid) and removes our instances: on any way out. */
function cleanupAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
  removeOwnInstances(true);
}

let signalsInstalled = false;
function installSignalCleanup() {
  if (signalsInstalled) return;
  signalsInstalled = true;
  process.on('exit', cleanupAll);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      // ktap (and bpftrace) remove what they made on SIGTERM: give them a moment to do it
      // before anything still running is killed outright.
      for (const child of children) child.kill('SIGTERM');
      const deadline = Date.now() + 3000;
      const wait = () => {
        if (children.size > 0 && Date.now() < deadline) setTimeout(wait, 50);
        else {
          cleanupAll();
          process.exit(130);
        }
      };
      wait();
    });
  }
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * Starts a process; resolves once `ready` matches its stdout (or it exits first). The
 * result has the ms from spawn to ready, the output so far (functions) and `exited`, a
 * promise of {code, signal, at} with the ms timestamp of the exit.
 */
function startUntil(command, args, ready) {
  return new Promise((resolve, reject) => {
    const started = now();
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let readyAt = null;
    const exited = new Promise((done) => {
      child.on('exit', (code, signal) => {
        children.delete(child);
        done({ code, signal, at: now() });
      });
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')}: not ready after ${READY_TIMEOUT_MS / 1000} s`));
    }, READY_TIMEOUT_MS);
    const result = () => ({
      child, readyAt, readyMs: readyAt === null ? null : readyAt - started, exited,
      stdout: () => stdout, stderr: () => stderr,
    });
    child.stdout.setEncoding('latin1');
    child.stderr.setEncoding('latin1');
    child.stdout.on('data', (text) => {
      stdout += text;
      if (readyAt === null && ready.test(stdout)) {
        readyAt = now();
        clearTimeout(timer);
        resolve(result());
      }
    });
    child.stderr.on('data', (text) => {
      stderr += text;
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    exited.then(() => {
      if (readyAt !== null) return;
      clearTimeout(timer);
      resolve(result());
    });
  });
}

/**
 * SIGINT, then waits for the exit; returns ms from the signal to the exit. Not before
 * SETTLE_MS after the banner: ktap writes its banner before it installs its SIGINT handler,
 * and a SIGINT in between kills it by the default action, leaving its instance behind.
 */
async function interrupt(run) {
  const settle = run.readyAt === null ? 0 : run.readyAt + SETTLE_MS - now();
  if (settle > 0) await new Promise((resolve) => setTimeout(resolve, settle));
  const sent = now();
  run.child.kill('SIGINT');
  // bpftrace 0.17 sometimes sleeps on through a SIGINT (seen here under load): ask again,
  // then insist. The time reported is still from the first signal.
  const escalation = ['SIGINT', 'SIGINT', 'SIGTERM', 'SIGKILL'];
  let step = 0;
  const timer = setInterval(() => {
    if (step < escalation.length) run.child.kill(escalation[step++]);
  }, 5000);
  const { at } = await run.exited;
  clearInterval(timer);
  if (step > 0) run.resignalled = step;
  return at - sent;
}

function firstError(text) {
  const lines = String(text).split('\n').map((line) => line.trim()).filter((line) => line !== '' && !/RLIMIT_MEMLOCK/.test(line));
  return lines.find((line) => /^(error|ERROR)\b|Error\b/.test(line)) ?? lines[0] ?? '';
}

// ---------------------------------------------------------------------------------------
// CPUs and the workload

function cpuPlan() {
  const count = cpus().length;
  if (count < 2) return { tracer: [], workload: [], note: 'one CPU: nothing pinned' };
  return { tracer: ['taskset', '-c', '0'], workload: ['taskset', '-c', String(count - 1)], note: `tracers on CPU 0, workload on CPU ${count - 1}` };
}

/** Compiles bench/e2e/NAME.c into `directory` as `output`; returns the binary's path. */
function compile(directory, name, output = name) {
  const binary = join(directory, output);
  const result = spawnSync('cc', ['-O2', '-o', binary, join(HERE, `${name}.c`)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`cc failed: ${firstError(result.stderr) || result.error?.message}`);
  return binary;
}

/** Compiles the workload; returns its path (in `directory`). */
function buildWorkload(directory) {
  return compile(directory, 'getppid-loop', COMM);
}

/** Runs the loop once (pinned); returns its ns per call. */
function runLoop(plan, binary, calls) {
  const [command, ...args] = [...plan.workload, binary, String(calls)];
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000 });
  const match = /^(\d+) ([\d.]+)$/m.exec(result.stdout ?? '');
  if (result.status !== 0 || match === null) throw new Error(`workload failed: ${firstError(result.stderr) || `exit status ${result.status}`}`);
  return Number(match[2]);
}

// ---------------------------------------------------------------------------------------
// tracefs: our own instances (ktapbench-PID-N), and checks that nothing is left

let instancesMade = 0;
const OWN = /^ktapbench-(\d+)-\d+$/;

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** Removes our instances: this process's when `mine`, and those of dead bench runs. */
function removeOwnInstances(mine) {
  let names = [];
  try {
    names = readdirSync(INSTANCES);
  } catch {
    return;
  }
  for (const name of names) {
    const match = OWN.exec(name);
    if (match === null) continue;
    const pid = Number(match[1]);
    if (pid === process.pid ? mine : !pidAlive(pid)) removeInstance(join(INSTANCES, name));
  }
}

function removeInstance(directory) {
  try {
    writeFileSync(join(directory, 'tracing_on'), '0');
    writeFileSync(join(directory, 'events', 'enable'), '0');
  } catch {
    // removing it disables everything anyway
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      rmdirSync(directory);
      return;
    } catch (error) {
      if (error.code === 'ENOENT') return;
      if (error.code !== 'EBUSY') throw error;
    }
    spawnSync('sleep', ['0.05']);
  }
  throw new Error(`cannot remove ${directory}`);
}

function makeInstance() {
  removeOwnInstances(false);
  const directory = join(INSTANCES, `ktapbench-${process.pid}-${instancesMade++}`);
  mkdirSync(directory);
  return directory;
}

function instanceNames() {
  try {
    return readdirSync(INSTANCES);
  } catch {
    return [];
  }
}

/** Pids of the ktap processes this module started (their instances are `ktap-PID-N`). */
const ktapPids = new Set();

/**
 * Instances still there of the ktap processes we started (all ended by now) and our own:
 * there should be none. (Other people's runs, e.g. a test that SIGKILLs ktap on purpose,
 * are not counted.)
 */
function leftovers() {
  return instanceNames().filter((name) => {
    const ktap = /^ktap-(\d+)-\d+$/.exec(name);
    if (ktap !== null) return ktapPids.has(Number(ktap[1])) && !pidAlive(Number(ktap[1]));
    const own = OWN.exec(name);
    return own !== null && Number(own[1]) === process.pid;
  });
}

// ---------------------------------------------------------------------------------------
// Overhead on a traced workload

/**
 * Tracing of the workload's event by others (another ktap, a test, the top level): each such
 * buffer adds its own ~70 ns to every call and spoils the round. Returns their names.
 */
function foreignGetppidTracing() {
  const enabled = (directory) => {
    try {
      return readFileSync(join(directory, 'events', 'syscalls', 'sys_enter_getppid', 'enable'), 'latin1').startsWith('1');
    } catch {
      return false;
    }
  };
  const found = enabled(TRACEFS) ? ['(top level)'] : [];
  for (const name of instanceNames()) {
    const own = OWN.exec(name);
    if (own !== null && Number(own[1]) === process.pid) continue;
    if (enabled(join(INSTANCES, name))) found.push(name);
  }
  return found;
}

/** Waits up to `seconds` for nobody else to trace sys_enter_getppid; returns who still does. */
async function waitForQuiet(seconds, log) {
  let others = foreignGetppidTracing();
  if (others.length === 0) return others;
  log(` [waiting: ${others.join(', ')} also trace sys_enter_getppid]`);
  const until = now() + seconds * 1000;
  while (others.length > 0 && now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    others = foreignGetppidTracing();
  }
  return others;
}

/**
 * An instance of ours set up as ktap sets up its own (buffer size; the default trace clock,
 * `local`, which costs ~14 ns less per event here than `mono`), the event enabled.
 */
function floorInstance() {
  const directory = makeInstance();
  try {
    writeFileSync(join(directory, 'tracing_on'), '0');
    writeFileSync(join(directory, 'buffer_size_kb'), String(KTAP_BUFFER_KB));
    writeFileSync(join(directory, 'events', 'syscalls', 'sys_enter_getppid', 'enable'), '1');
    writeFileSync(join(directory, 'tracing_on'), '1');
  } catch (error) {
    removeInstance(directory);
    throw error;
  }
  return directory;
}

/** The floor: the event enabled in an instance, nobody reading (the buffer overwrites itself). */
function floorRun(plan, binary, calls) {
  const directory = floorInstance();
  try {
    return runLoop(plan, binary, calls);
  } finally {
    removeInstance(directory);
  }
}

/** Events the kernel dropped or overwrote in an instance (per_cpu/cpuN/stats). */
function instanceLost(directory) {
  let lost = 0;
  for (let cpu = 0; cpu < cpus().length; cpu++) {
    const text = readFileSync(join(directory, 'per_cpu', `cpu${cpu}`, 'stats'), 'latin1');
    lost += Number(/^overrun: (\d+)/m.exec(text)?.[1] ?? 0) + Number(/^dropped events: (\d+)/m.exec(text)?.[1] ?? 0);
  }
  return lost;
}

/** The floor with a reader: the same instance read by bench/e2e/raw-reader.c as ktap reads. */
async function floorReaderRun(plan, binary, reader, calls) {
  const directory = floorInstance();
  try {
    const [command, ...args] = [...plan.tracer, reader, directory, String(cpus().length)];
    const run = await startUntil(command, args, /^ready$/m);
    if (run.readyMs === null) throw new Error(`raw-reader failed: ${firstError(run.stderr())}`);
    let nsPerCall;
    try {
      nsPerCall = runLoop(plan, binary, calls);
    } finally {
      await interrupt(run);
    }
    return { nsPerCall, lost: instanceLost(directory) };
  } finally {
    removeInstance(directory);
  }
}

async function ktapRun(plan, binary, calls, tier) {
  const [command, ...args] = [...plan.tracer, process.execPath, KTAP_BIN, '--tier', tier, '-e', COUNT_SCRIPT];
  const run = await startUntil(command, args, /Tracing\.\.\. Hit Ctrl-C to end\./);
  ktapPids.add(run.child.pid); // taskset execs node: the same pid
  if (run.readyMs === null) throw new Error(`ktap exited before its banner: ${firstError(run.stderr())}`);
  let nsPerCall;
  try {
    nsPerCall = runLoop(plan, binary, calls);
  } finally {
    await interrupt(run);
  }
  const row = new RegExp(`^\\s*${COMM}\\s*\\|[@ ]*?(\\d+)\\s*$`, 'm').exec(run.stdout());
  const lost = /ktap: (\d+) events lost/.exec(run.stderr());
  if (row === null) throw new Error(`ktap printed no count for ${COMM}: ${firstError(run.stderr()) || JSON.stringify(run.stdout().slice(-200))}`);
  return { nsPerCall, count: Number(row[1]), lost: lost === null ? 0 : Number(lost[1]) };
}

/** The kernel tier's hook with nothing to do (bench/e2e/empty-hook-worker.ts): its floor. */
async function hookFloorRun(plan, binary, worker, calls) {
  const [command, ...args] = [...plan.tracer, process.execPath, worker];
  const run = await startUntil(command, args, /^ready$/m);
  if (run.readyMs === null) throw new Error(`empty-hook-worker failed: ${firstError(run.stderr())}`);
  try {
    return runLoop(plan, binary, calls);
  } finally {
    await interrupt(run);
  }
}

async function bpftraceRun(plan, binary, calls) {
  const [command, ...args] = [...plan.tracer, 'bpftrace', '-B', 'none', '-e', BPFTRACE_COUNT];
  const run = await startUntil(command, args, /^ready$/m);
  if (run.readyMs === null) throw new Error(`bpftrace exited before BEGIN: ${firstError(run.stderr() + run.stdout())}`);
  let nsPerCall;
  try {
    nsPerCall = runLoop(plan, binary, calls);
  } finally {
    await interrupt(run);
  }
  const row = new RegExp(`^@\\[${COMM}\\]: (\\d+)$`, 'm').exec(run.stdout());
  if (row === null) throw new Error(`bpftrace printed no count for ${COMM}: ${firstError(run.stderr())}`);
  return { nsPerCall, count: Number(row[1]), lost: 0 };
}

/**
 * `rounds` rounds of: bare loop, floor, floor + native reader, the kernel tier's empty hook,
 * ktap (both tiers), bpftrace (each `calls` getppid calls).
 * Returns per configuration the ns/call of every round, the counts, and the best figures.
 */
export async function measureOverhead({ rounds = 3, calls = 5_000_000, bpftrace = true, quietWait = 120, log }) {
  installSignalCleanup();
  const plan = cpuPlan();
  const directory = mkdtempSync(join(tmpdir(), 'ktap-bench-e2e-'));
  const configs = { bare: [], floor: [], floorReader: [], hookFloor: [], ktap: [], ktapUser: [], bpftrace: [] };
  const errors = {};
  const spoiled = [];
  try {
    const binary = buildWorkload(directory);
    const reader = compile(directory, 'raw-reader');
    const hookWorker = await bundleWorker('empty-hook-worker');
    runLoop(plan, binary, Math.min(calls, 1_000_000)); // warm the page cache and the CPU
    for (let round = 0; round < rounds; round++) {
      log(`  overhead round ${round + 1}/${rounds}:`);
      const step = async (name, fn) => {
        if (errors[name]) return;
        const before = await waitForQuiet(quietWait, log);
        try {
          const result = await fn();
          const run = typeof result === 'number' ? { nsPerCall: result } : result;
          // Someone there at the start or at the end (they come and go) spoils the run.
          const others = [...new Set([...before, ...foreignGetppidTracing()])];
          // Measured anyway, but kept out of the best figures while clean runs exist.
          if (others.length > 0) {
            run.spoiled = true;
            spoiled.push(`round ${round + 1} ${name}: ${others.join(', ')}`);
          }
          configs[name].push(run);
          log(` ${name} ${run.nsPerCall.toFixed(1)}${run.spoiled ? ' (spoiled)' : ''}`);
        } catch (error) {
          errors[name] = error.message;
          log(` ${name} failed`);
        }
      };
      await step('bare', () => runLoop(plan, binary, calls));
      await step('floor', () => floorRun(plan, binary, calls));
      await step('floorReader', () => floorReaderRun(plan, binary, reader, calls));
      await step('hookFloor', () => hookFloorRun(plan, binary, hookWorker, calls));
      await step('ktap', () => ktapRun(plan, binary, calls, 'kernel'));
      await step('ktapUser', () => ktapRun(plan, binary, calls, 'user'));
      if (bpftrace) await step('bpftrace', () => bpftraceRun(plan, binary, calls));
      log(' ns/call\n');
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  const counted = (name) => {
    const clean = configs[name].filter((run) => !run.spoiled);
    return clean.length ? clean : configs[name];
  };
  const best = (name) => (configs[name].length ? Math.min(...counted(name).map((run) => run.nsPerCall)) : null);
  const summary = {};
  for (const name of Object.keys(configs)) {
    const runs = configs[name];
    summary[name] = {
      runs: runs.map((run) => run.nsPerCall),
      best: best(name),
      worst: runs.length ? Math.max(...counted(name).map((run) => run.nsPerCall)) : null,
      spoiled: runs.length > 0 && counted(name) === runs && runs.some((run) => run.spoiled),
      added: best(name) === null || best('bare') === null || name === 'bare' ? null : best(name) - best('bare'),
      counts: runs.filter((run) => run.count !== undefined).map((run) => run.count),
      lost: runs.filter((run) => run.lost !== undefined).map((run) => run.lost),
      error: errors[name] ?? null,
    };
  }
  return { calls, rounds, pinning: plan.note, configs: summary, spoiled, leftovers: leftovers() };
}

// ---------------------------------------------------------------------------------------
// Start and attach

/** One ktap run of `script`: ms to the banner, ms from SIGINT to exit. */
async function ktapStartStop(plan, script, options = []) {
  const [command, ...args] = [...plan.tracer, process.execPath, KTAP_BIN, ...options, '-e', script];
  const run = await startUntil(command, args, /Tracing\.\.\. Hit Ctrl-C to end\./);
  ktapPids.add(run.child.pid); // taskset execs node: the same pid
  if (run.readyMs === null) throw new Error(`ktap exited before its banner: ${firstError(run.stderr())}`);
  const stopMs = await interrupt(run);
  const { code, signal } = await run.exited;
  if (code !== 0) throw new Error(`ktap ended with ${signal ?? `exit status ${code}`} after SIGINT: ${firstError(run.stderr())}`);
  return { startMs: run.readyMs, stopMs };
}

/** Wall ms of a process from spawn to exit. */
async function wallMs(command, args) {
  const started = now();
  const run = await startUntil(command, args, /(?!)/);
  const { code, at } = await run.exited;
  if (code !== 0) throw new Error(`${command} exited with ${code}: ${firstError(run.stderr() + run.stdout())}`);
  return at - started;
}

/** tracefs alone: enable and disable every syscall event in a fresh instance, then remove it. */
function tracefsAllSyscallsMs() {
  const started = now();
  const directory = makeInstance();
  try {
    writeFileSync(join(directory, 'events', 'syscalls', 'enable'), '1');
    writeFileSync(join(directory, 'events', 'syscalls', 'enable'), '0');
  } finally {
    removeInstance(directory);
  }
  return now() - started;
}

/**
 * bench/e2e/NAME.ts bundled as bin/ktap's code is (into the repository's
 * ignored tmp/, so that koffi resolves from node_modules): timed under tsx, koffi's load
 * went through tsx's module hooks and took several times what it takes for ktap.
 */
async function bundleWorker(name) {
  const outfile = join(ROOT, 'tmp', `${name}.js`);
  await build({
    entryPoints: [join(HERE, `${name}.ts`)], outfile, bundle: true, platform: 'node', target: 'node20', format: 'cjs',
    external: ['koffi', 'blessed', 'blessed-contrib'], logLevel: 'warning',
  });
  return outfile;
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return {
    best: sorted[0],
    median: sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2,
    worst: sorted[sorted.length - 1],
    runs: values,
  };
}

/**
 * Start and attach, `runs` times each (not pinned: nobody pins a tracer they start): ktap to
 * its banner with one event, bpftrace `BEGIN { exit() }` from spawn to exit, ktap with every
 * syscall event from spawn to banner and from SIGINT to exit; as floors, tracefs alone
 * enabling and disabling events/syscalls in an instance, and `node -e 0`.
 */
export async function measureAttach({ runs = 5, bpftrace = true, bpftraceAllSyscalls = false, log }) {
  installSignalCleanup();
  const plan = { tracer: [] };
  const summary = {};
  const attempt = async (name, label, count, fn) => {
    log(`  ${label} ...`);
    try {
      const values = [];
      for (let run = 0; run < count; run++) values.push(await fn());
      summary[name] = typeof values[0] === 'number' ? stats(values) : {
        start: stats(values.map((value) => value.startMs)),
        stop: stats(values.map((value) => value.stopMs)),
        total: stats(values.map((value) => value.startMs + value.stopMs)),
      };
      log(' done\n');
    } catch (error) {
      summary[name] = { error: error.message };
      log(` failed: ${error.message}\n`);
    }
  };
  // Warm-up: the file cache for node, the bundle and the tracefs format files.
  await ktapStartStop(plan, 'trace syscalls:* {}').catch(() => {});
  await attempt('ktapOne', 'ktap start → banner, syscalls:sys_enter_getppid (kernel tier)', runs,
    () => ktapStartStop(plan, 'trace syscalls:sys_enter_getppid {}'));
  await attempt('ktapOneUser', 'ktap start → banner, syscalls:sys_enter_getppid (user tier)', runs,
    () => ktapStartStop(plan, 'trace syscalls:sys_enter_getppid {}', ['--tier', 'user']));
  await attempt('ktapTick', 'ktap start → banner, tick-1s (nothing attached in the kernel)', runs,
    () => ktapStartStop(plan, 'tick-1s {}'));
  await attempt('ktapKernelSysEnter', 'ktap syscalls:sys_enter_* count in the kernel', runs,
    () => ktapStartStop(plan, 'var s = {} trace syscalls:sys_enter_* { s[execname] += 1 }', ['--tier', 'kernel']));
  const worker = await bundleWorker('kernel-attach-worker');
  const phases = {};
  await attempt('kernelAttachInProcess', 'attach + teardown in the kernel, timed inside a fresh process', runs, async () => {
    const result = spawnSync(process.execPath, [worker], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
    if (result.status !== 0) throw new Error(`kernel-attach-worker: ${firstError(result.stderr)}`);
    const { attachMs, teardownMs, phases: times } = JSON.parse(result.stdout);
    for (const [phase, time] of Object.entries(times)) (phases[phase] ??= []).push(time);
    return { startMs: attachMs, stopMs: teardownMs };
  });
  summary.kernelAttachPhases = Object.fromEntries(Object.entries(phases).map(([phase, times]) => [phase, stats(times)]));
  // Attach + teardown in the kernel as same-run differences: each run of the count is paired
  // with a tick-only run just before it (start → banner and SIGINT → exit of each), so the
  // machine's load, which moves Node's own start by hundreds of ms, cancels out.
  await attempt('kernelAttachPairs', 'attach + teardown in the kernel: count minus tick-only, paired', runs, async () => {
    const tick = await ktapStartStop(plan, 'tick-1s {}');
    const count = await ktapStartStop(plan, 'var s = {} trace syscalls:sys_enter_* { s[execname] += 1 }', ['--tier', 'kernel']);
    return { startMs: count.startMs - tick.startMs, stopMs: count.stopMs - tick.stopMs };
  });
  if (bpftrace) {
    await attempt('bpftraceBegin', "bpftrace -e 'BEGIN { exit() }' wall", runs, () => wallMs('bpftrace', ['-e', 'BEGIN { exit() }']));
  }
  await attempt('ktapAll', 'ktap syscalls:* start → banner, SIGINT → exit', runs, () => ktapStartStop(plan, 'trace syscalls:* {}'));
  await attempt('tracefsAll', 'tracefs alone: enable + disable events/syscalls in an instance', runs, async () => tracefsAllSyscallsMs());
  await attempt('nodeStart', 'node -e 0 wall', runs, () => wallMs(process.execPath, ['-e', '0']));
  if (bpftrace && bpftraceAllSyscalls) {
    await attempt('bpftraceAll', "bpftrace 'tracepoint:syscalls:* {}' start → BEGIN, SIGINT → exit (one run)", 1, async () => {
      const run = await startUntil('bpftrace', ['-B', 'none', '-e', 'BEGIN { printf("ready\\n"); } tracepoint:syscalls:* { }'], /^ready$/m);
      if (run.readyMs === null) throw new Error(`bpftrace exited before BEGIN: ${firstError(run.stderr())}`);
      const stopMs = await interrupt(run);
      return { startMs: run.readyMs, stopMs };
    });
  }
  return { runs, ...summary, leftovers: leftovers() };
}

// ---------------------------------------------------------------------------------------
// Peak RSS under load

/** GNU time's path, installing it when missing (root); null when unavailable. */
function gnuTime(log) {
  const works = () => existsSync('/usr/bin/time') && spawnSync('/usr/bin/time', ['-f', '%M', 'true'], { encoding: 'utf8' }).status === 0;
  if (works()) return '/usr/bin/time';
  log('GNU time not found; installing: apt-get install -y time\n');
  spawnSync('apt-get', ['install', '-y', 'time'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return works() ? '/usr/bin/time' : null;
}

/**
 * Peak RSS of `ktap -q -e COUNT_SCRIPT -- LOOP calls` (the workload pinned, ktap on CPU 0):
 * `runs` runs; each also gives the loop's ns/call under `-- cmd` and ktap's count.
 */
export async function measureRss({ runs = 3, calls = 5_000_000, log }) {
  installSignalCleanup();
  const time = gnuTime(log);
  if (time === null) return { error: 'GNU time (/usr/bin/time) unavailable' };
  const plan = cpuPlan();
  const directory = mkdtempSync(join(tmpdir(), 'ktap-bench-e2e-'));
  const samples = [];
  try {
    const binary = buildWorkload(directory);
    const out = join(directory, 'rss');
    for (let run = 0; run < runs; run++) {
      log(`  peak RSS run ${run + 1}/${runs} ...`);
      // The shell prints its pid and execs (taskset execs node): ktap runs with that pid.
      const [command, ...args] = [time, '-f', '%M', '-o', out, 'sh', '-c', 'echo "ktap-pid $$"; exec "$@"', 'sh',
        ...plan.tracer, process.execPath, KTAP_BIN, '-q', '-e', COUNT_SCRIPT, '--', ...plan.workload, binary, String(calls)];
      const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (text) => { stdout += text; });
      child.stderr.on('data', (text) => { stderr += text; });
      const code = await new Promise((resolve) => child.on('exit', (status) => resolve(status)));
      children.delete(child);
      const pid = /^ktap-pid (\d+)$/m.exec(stdout);
      if (pid !== null) ktapPids.add(Number(pid[1]));
      if (code !== 0) throw new Error(`ktap -- cmd failed (${code}): ${firstError(stderr)}`);
      const kib = Number.parseInt(readFileSync(out, 'utf8').trim().split('\n').pop(), 10);
      const loop = /^(\d+) ([\d.]+)$/m.exec(stdout);
      const row = new RegExp(`^\\s*${COMM}\\s*\\|[@ ]*?(\\d+)\\s*$`, 'm').exec(stdout);
      const lost = /ktap: (\d+) events lost/.exec(stderr);
      samples.push({ mb: kib / 1024, nsPerCall: loop ? Number(loop[2]) : null, count: row ? Number(row[1]) : null, lost: lost ? Number(lost[1]) : 0 });
      log(` ${(kib / 1024).toFixed(1)} MB\n`);
    }
  } catch (error) {
    return { error: error.message };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  return {
    calls,
    pinning: plan.note,
    mb: stats(samples.map((sample) => sample.mb)),
    nsPerCall: samples.map((sample) => sample.nsPerCall),
    counts: samples.map((sample) => sample.count),
    lost: samples.map((sample) => sample.lost),
    leftovers: leftovers(),
  };
}

// ---------------------------------------------------------------------------------------
// Saturation: the kernel tier under two workloads making getppid as fast as they can

/** utime + stime of a process in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * ktap counting getppid by pid in the kernel tier while two loops (one per CPU) run for
 * about SECONDS: their counts against ktap's, events lost, and ktap's CPU time against the
 * loops' (both from /proc: ktap's own ticks, the loops' through their shell's rusage).
 */
export async function measureSaturation({ seconds = 10, log }) {
  installSignalCleanup();
  const directory = mkdtempSync(join(tmpdir(), 'ktap-bench-saturate-'));
  try {
    const binary = buildWorkload(directory);
    const script = 'var s = {} trace syscalls:sys_enter_getppid { s[pid] += 1 } trace_end { for (k, v in pairs(s)) { printf("count %d\\n", v) } }';
    const run = await startUntil(process.execPath, [KTAP_BIN, '--tier', 'kernel', '-e', script], /Tracing\.\.\. Hit Ctrl-C to end\./);
    ktapPids.add(run.child.pid);
    if (run.readyMs === null) throw new Error(`ktap exited before its banner: ${firstError(run.stderr())}`);
    let calls;
    let workloadTicks;
    let ktapTicks;
    try {
      const probe = runLoop({ workload: [] }, binary, 200_000);
      calls = Math.round((seconds * 1e9) / probe);
      log(`  two loops of ${calls} getppid calls (~${seconds} s at ${probe.toFixed(0)} ns/call) ...`);
      const before = cpuTicks(run.child.pid);
      const shell = spawnSync('/bin/sh', ['-c', `"$0" ${calls} & "$0" ${calls} & wait; cat /proc/$$/stat`, binary], { encoding: 'utf8', timeout: seconds * 20_000 });
      ktapTicks = cpuTicks(run.child.pid) - before;
      // The shell's cutime + cstime (fields 16, 17): the loops it waited for.
      const stat = shell.stdout.slice(shell.stdout.lastIndexOf(')') + 2).split(' ');
      workloadTicks = Number(stat[13]) + Number(stat[14]);
      log(' done\n');
    } finally {
      await interrupt(run);
    }
    const counts = [...run.stdout().matchAll(/^count (\d+)$/gm)].map((match) => Number(match[1]));
    const lost = /ktap: (\d+) events lost/.exec(run.stderr());
    return {
      calls,
      exact: counts.filter((count) => count === calls).length === 2,
      counts: counts.filter((count) => count >= calls / 2),
      lost: lost === null ? 0 : Number(lost[1]),
      ktapTicks,
      workloadTicks,
      share: workloadTicks > 0 ? ktapTicks / workloadTicks : null,
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
