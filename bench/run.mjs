#!/usr/bin/env node
// ktap's benchmarks (bench/README.md). Language core: runs the programs of bench/vm/ in
// ktap and in Lua 5.4, checks both print the same result, and compares wall-clock times
// against the target ratio; then ktap's start-up (wall time and peak RSS of
// `ktap -e 'print(1)'`). Tracing: the event path replayed from recorded pages
// (bench/events/), and on the live kernel (bench/e2e/, root and tracefs) the overhead on a
// traced getppid loop against bpftrace, start and attach times, and peak RSS under load.
// Only when named (--only interrupt): Ctrl-C during and after a uprobe on every libc function.
//
//   node bench/run.mjs [--runs N] [--only SECTION|NAME[,...]] [--timeout SEC] [--no-startup]
//                      [--calls N] [--seconds S] [--no-bpftrace] [--bpftrace-all-syscalls]
//
// Exit code 0 whether or not the targets are met (this is a benchmark, not a test);
// non-zero only when the harness itself breaks.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatEventPath, measureEventPath, TARGET_EVENTS_PER_SECOND } from './events/event-path.mjs';
import { interruptUnavailable, measureAttachInterrupt } from './attach-interrupt.mjs';
import {
  COUNT_SCRIPT, ensureBpftrace, liveUnavailable, measureAttach, measureOverhead, measureRss, measureSaturation, TARGETS,
} from './e2e/live.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);
const KTAP_BIN = join(ROOT, 'bin', 'ktap');
const KTAP_DIST = join(ROOT, 'dist', 'ktap.js');

const TARGET_RATIO = 1.5; // ktap time / lua time
const TARGET_START_MS = 80;
const TARGET_RSS_MB = 60;
const STARTUP_RUNS = 10;

// Sandbox limits lifted: the benchmarks run far past the default budgets.
const KTAP_UNLIMITED = [
  '--max-instructions', '0',
  '--max-event-instructions', '0',
  '--max-depth', '0',
  '--max-table-entries', '0',
  '--max-string', '0',
];

// name, what it measures, and the output both implementations must print.
const PROGRAMS = [
  { name: 'fib', what: 'recursive fib(32)', expect: '2178309' },
  { name: 'loop', what: 'integer loop to 10^8', expect: '5000000050000000' },
  { name: 'table', what: '10^6 int keys insert+lookup', expect: '1000000\t1500001500000' },
  { name: 'agg', what: 't[k % 1000] += 1, 2*10^7', expect: '1000\t20000000\t20000\t20000' },
  { name: 'closure', what: 'closure create+call 2*10^7', expect: '200000030000000' },
];

/** Sections besides the single programs; `vm` is every program, `live` the kernel ones. */
const SECTIONS = ['vm', 'startup', 'events', 'overhead', 'attach', 'rss', 'saturate', 'live', 'interrupt'];
const LIVE_SECTIONS = ['overhead', 'attach', 'rss', 'saturate'];
/**
 * Sections run only when named: `interrupt` slows every process on the machine while its
 * uprobes are on libc (~70 s after each of its four runs), and takes ~7 minutes.
 */
const NAMED_ONLY_SECTIONS = ['interrupt'];

// ---------------------------------------------------------------------------------------
// Options

function usage(code) {
  const text = `usage: node bench/run.mjs [options]
  --runs N           timed runs per measurement, best one kept (default 3; start/attach: at least 5)
  --only NAME[,..]   run only these sections or programs: vm (all programs), startup, events,
                     overhead, attach, rss, saturate, live (= overhead,attach,rss,saturate), or a program
                     (${PROGRAMS.map((p) => p.name).join(', ')}); interrupt (Ctrl-C during and after
                     a uprobe on every libc function, ~7 min) runs only when named
  --timeout SEC      give up on a single run after SEC seconds (default 300)
  --no-startup       skip the start-up measurement
  --calls N          getppid calls per workload run in overhead and rss (default 5000000)
  --seconds S        seconds per event-path run (default 2)
  --no-bpftrace      leave bpftrace out (and do not install it)
  --bpftrace-all-syscalls  also time bpftrace attaching every syscall tracepoint (slow: ~30 s)
  -h, --help         this text
`;
  (code ? process.stderr : process.stdout).write(text);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = {
    runs: 3, only: null, timeoutMs: 300_000, startup: true, calls: 5_000_000, seconds: 2, bpftrace: true,
    bpftraceAllSyscalls: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(2);
      return argv[++i];
    };
    if (a === '--runs') {
      opts.runs = Number.parseInt(value(), 10);
      if (!(opts.runs >= 1)) usage(2);
    } else if (a === '--only') {
      opts.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    } else if (a === '--timeout') {
      const s = Number(value());
      if (!(s > 0)) usage(2);
      opts.timeoutMs = s * 1000;
    } else if (a === '--no-startup') {
      opts.startup = false;
    } else if (a === '--calls') {
      opts.calls = Number.parseInt(value(), 10);
      if (!(opts.calls >= 1)) usage(2);
    } else if (a === '--seconds') {
      opts.seconds = Number(value());
      if (!(opts.seconds > 0)) usage(2);
    } else if (a === '--no-bpftrace') {
      opts.bpftrace = false;
    } else if (a === '--bpftrace-all-syscalls') {
      opts.bpftraceAllSyscalls = true;
    } else if (a === '-h' || a === '--help') {
      usage(0);
    } else {
      process.stderr.write(`bench: unknown option '${a}'\n`);
      usage(2);
    }
  }
  if (opts.only) {
    const known = new Set([...PROGRAMS.map((p) => p.name), ...SECTIONS]);
    for (const n of opts.only) {
      if (!known.has(n)) {
        process.stderr.write(`bench: unknown section or program '${n}'\n`);
        usage(2);
      }
    }
  }
  return opts;
}

// ---------------------------------------------------------------------------------------
// Running things

/** First non-empty line; for a Node stack dump, its `XxxError: ...` line instead. */
function firstLine(s) {
  const lines = String(s ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length && /^node:internal\//.test(lines[0])) {
    const err = lines.find((l) => /^[A-Za-z]*Error\b/.test(l));
    if (err) return err;
  }
  return lines[0] ?? '';
}

/** Runs a command once; returns {ok, seconds, stdout, error}. */
function runOnce(cmd, args, timeoutMs) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) {
    const msg = r.error.code === 'ETIMEDOUT' ? `timeout after ${timeoutMs / 1000} s` : r.error.message;
    return { ok: false, seconds, stdout: r.stdout ?? '', error: msg };
  }
  if (r.status !== 0) {
    const why = firstLine(r.stderr) || firstLine(r.stdout) ||
      (r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`);
    return { ok: false, seconds, stdout: r.stdout ?? '', error: why };
  }
  // A ktap runtime error goes to the script output as "error: ..." (exit status may vary).
  const out = r.stdout.replace(/\n+$/, '');
  const err = out.split('\n').find((l) => l.startsWith('error: '));
  if (err) return { ok: false, seconds, stdout: out, error: err };
  return { ok: true, seconds, stdout: out, error: null };
}

/** Best (minimum) wall time of `runs` runs; stops at the first failure. */
function timeBest(cmd, args, runs, timeoutMs) {
  let best = null;
  for (let i = 0; i < runs; i++) {
    const r = runOnce(cmd, args, timeoutMs);
    if (!r.ok) return r;
    if (!best || r.seconds < best.seconds) best = r;
  }
  return best;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// ---------------------------------------------------------------------------------------
// Lua 5.4

function luaVersionOf(cmd) {
  const r = spawnSync(cmd, ['-v'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  const m = /Lua (5\.4\S*)/.exec(`${r.stdout}${r.stderr}`);
  return m ? m[1] : null;
}

function findLua() {
  for (const cmd of ['lua5.4', 'lua']) {
    const v = luaVersionOf(cmd);
    if (v) return { cmd, version: v };
  }
  return null;
}

function ensureLua() {
  let lua = findLua();
  if (lua) return lua;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    console.log('lua5.4 not found and not running as root: running ktap only.');
    return null;
  }
  console.log('lua5.4 not found; installing: apt-get update && apt-get install -y lua5.4');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const up = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  const inst = up.status === 0
    ? spawnSync('apt-get', ['install', '-y', 'lua5.4'], { stdio: 'inherit', env })
    : up;
  lua = inst.status === 0 ? findLua() : null;
  if (!lua) console.log('installing lua5.4 failed: running ktap only.');
  return lua;
}

// ---------------------------------------------------------------------------------------
// Start-up: wall time and peak RSS of `ktap -e 'print(1)'`

/** Returns a function measuring peak RSS (KiB) of one ktap run, and a label for the method. */
function rssMeter(timeoutMs) {
  const gnuTimeWorks = () => {
    if (!existsSync('/usr/bin/time')) return false;
    const r = spawnSync('/usr/bin/time', ['-f', '%M', 'true'], { encoding: 'utf8' });
    return r.status === 0 && /^\d+\s*$/.test(r.stderr.trim().split('\n').pop() ?? '');
  };
  const forceHook = process.env.BENCH_RSS === 'hook'; // to exercise the fallback
  let gnu = !forceHook && gnuTimeWorks();
  if (!gnu && !forceHook && typeof process.getuid === 'function' && process.getuid() === 0) {
    console.log('GNU time not found; installing: apt-get install -y time');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['install', '-y', 'time'], { stdio: 'ignore', env });
    gnu = gnuTimeWorks();
  }
  if (gnu) {
    return {
      how: '/usr/bin/time -f %M',
      measure() {
        const dir = mkdtempSync(join(tmpdir(), 'ktap-bench-'));
        const out = join(dir, 'rss');
        try {
          const r = spawnSync('/usr/bin/time',
            ['-f', '%M', '-o', out, process.execPath, KTAP_BIN, '-e', 'print(1)'],
            { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs });
          if (r.status !== 0) return { error: firstLine(r.stderr) || `exit status ${r.status}` };
          const kib = Number.parseInt(readFileSync(out, 'utf8').trim().split('\n').pop(), 10);
          return Number.isFinite(kib) ? { kib } : { error: 'cannot read /usr/bin/time output' };
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  }
  // Fallback: preload a hook into the ktap process that reports its own maxRSS at exit.
  const hook = "process.on('exit',()=>{require('fs').writeSync(2,'\\nBENCH_MAXRSS_KIB='+" +
    "process.resourceUsage().maxRSS+'\\n')})";
  return {
    how: 'process.resourceUsage().maxRSS (preloaded exit hook)',
    measure() {
      const dir = mkdtempSync(join(tmpdir(), 'ktap-bench-'));
      const pre = join(dir, 'maxrss.cjs');
      try {
        writeFileSync(pre, hook);
        const r = spawnSync(process.execPath, ['--require', pre, KTAP_BIN, '-e', 'print(1)'],
          { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs });
        if (r.status !== 0) return { error: firstLine(r.stderr) || `exit status ${r.status}` };
        const m = /BENCH_MAXRSS_KIB=(\d+)/.exec(r.stderr);
        return m ? { kib: Number(m[1]) } : { error: 'no maxRSS reported' };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function measureStartup(timeoutMs) {
  const args = [KTAP_BIN, '-e', 'print(1)'];
  const warm = runOnce(process.execPath, args, timeoutMs); // warm the file cache
  if (!warm.ok) return { error: warm.error };
  if (warm.stdout.trim() !== '1') return { error: `printed ${JSON.stringify(warm.stdout)}, expected "1"` };
  const walls = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    const r = runOnce(process.execPath, args, timeoutMs);
    if (!r.ok) return { error: r.error };
    walls.push(r.seconds * 1000);
  }
  // Reference: bare node start-up, the floor ktap cannot go under.
  const nodeWalls = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    const r = runOnce(process.execPath, ['-e', '0'], timeoutMs);
    if (r.ok) nodeWalls.push(r.seconds * 1000);
  }
  const meter = rssMeter(timeoutMs);
  const rss = [];
  let rssError = null;
  for (let i = 0; i < 5; i++) {
    const m = meter.measure();
    if (m.error) { rssError = m.error; break; }
    rss.push(m.kib);
  }
  return {
    ms: median(walls),
    nodeMs: nodeWalls.length ? median(nodeWalls) : null,
    rssMB: rss.length ? median(rss) / 1024 : null,
    rssHow: meter.how,
    rssError,
  };
}

// ---------------------------------------------------------------------------------------
// Table output

function pad(s, w, right = false) {
  s = String(s);
  return right ? s.padStart(w) : s.padEnd(w);
}

function fmtS(r) {
  if (!r) return '—';
  return r.ok ? r.seconds.toFixed(3) : 'failed';
}

// ---------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const wanted = (name) => (!opts.only && !NAMED_ONLY_SECTIONS.includes(name)) || opts.only?.includes(name) ||
    (PROGRAMS.some((p) => p.name === name) && opts.only.includes('vm')) ||
    (LIVE_SECTIONS.includes(name) && opts.only.includes('live'));

  console.log(`ktap benchmarks — node ${process.version}, best of ${opts.runs} run(s)`);
  const lua = PROGRAMS.some((p) => wanted(p.name)) ? ensureLua() : null;
  if (lua) console.log(`lua: ${lua.cmd} (Lua ${lua.version})`);
  if (!existsSync(KTAP_DIST)) {
    console.log(`note: ${KTAP_DIST} is missing (build with \`node build.mjs\`); ktap runs will fail.`);
  }
  console.log('');

  const rows = [];
  const notes = [];
  for (const p of PROGRAMS) {
    if (!wanted(p.name)) continue;
    const kp = join(BENCH, 'vm', `${p.name}.kp`);
    const lf = join(BENCH, 'vm', `${p.name}.lua`);
    for (const f of [kp, lf]) {
      if (!existsSync(f)) throw new Error(`missing benchmark file ${f}`);
    }
    process.stdout.write(`running ${p.name} (${p.what}) ...`);
    const k = timeBest(process.execPath, [KTAP_BIN, ...KTAP_UNLIMITED, kp], opts.runs, opts.timeoutMs);
    process.stdout.write(k.ok ? ` ktap ${k.seconds.toFixed(3)} s` : ' ktap failed');
    const l = lua ? timeBest(lua.cmd, [lf], opts.runs, opts.timeoutMs) : null;
    if (l) process.stdout.write(l.ok ? `, lua ${l.seconds.toFixed(3)} s` : ', lua failed');
    process.stdout.write('\n');

    let verdict;
    let ratio = null;
    if (!k.ok) {
      verdict = 'FAIL';
      notes.push(`${p.name}: ktap failed: ${k.error}`);
    }
    if (l && !l.ok) notes.push(`${p.name}: lua failed: ${l.error}`);
    if (l && l.ok && l.stdout !== p.expect) {
      notes.push(`${p.name}: lua printed ${JSON.stringify(l.stdout)}, expected ${JSON.stringify(p.expect)}`);
    }
    if (k.ok) {
      const mismatch = l && l.ok ? k.stdout !== l.stdout : k.stdout !== p.expect;
      if (mismatch) {
        verdict = 'FAIL';
        const other = l && l.ok ? `lua printed ${JSON.stringify(l.stdout)}` : `expected ${JSON.stringify(p.expect)}`;
        notes.push(`${p.name}: OUTPUT MISMATCH: ktap printed ${JSON.stringify(k.stdout)}, ${other}`);
      } else if (l && l.ok) {
        ratio = k.seconds / l.seconds;
        verdict = ratio <= TARGET_RATIO ? 'PASS' : 'FAIL';
      } else {
        verdict = 'n/a';
      }
    }
    rows.push({ name: p.name, what: p.what, k, l, ratio, verdict });
  }

  let startup = null;
  if (opts.startup && wanted('startup')) {
    process.stdout.write(`measuring start-up (ktap -e 'print(1)', median of ${STARTUP_RUNS}) ...\n`);
    startup = measureStartup(opts.timeoutMs);
  }

  // Results table
  console.log('');
  if (rows.length) {
    const head = `${pad('program', 9)} ${pad('measures', 30)} ${pad('ktap s', 9, true)} ${pad('lua s', 9, true)} ` +
      `${pad('ktap/lua', 9, true)}  target ≤ ${TARGET_RATIO}`;
    console.log(head);
    console.log('-'.repeat(head.length));
    for (const r of rows) {
      console.log(`${pad(r.name, 9)} ${pad(r.what, 30)} ${pad(fmtS(r.k), 9, true)} ${pad(fmtS(r.l), 9, true)} ` +
        `${pad(r.ratio === null ? '—' : r.ratio.toFixed(2), 9, true)}  ${r.verdict}`);
    }
    console.log('');
  }

  let startPass = null;
  let rssPass = null;
  if (startup) {
    if (startup.error) {
      console.log(`start-up: failed: ${startup.error}`);
    } else {
      startPass = startup.ms <= TARGET_START_MS;
      const ref = startup.nodeMs === null ? '' : ` (bare \`node -e 0\`: ${startup.nodeMs.toFixed(1)} ms)`;
      console.log(`start-up wall: ${startup.ms.toFixed(1)} ms  target ≤ ${TARGET_START_MS} ms  ${startPass ? 'PASS' : 'FAIL'}${ref}`);
      if (startup.rssMB !== null) {
        rssPass = startup.rssMB <= TARGET_RSS_MB;
        console.log(`start-up peak RSS: ${startup.rssMB.toFixed(1)} MB  target ≤ ${TARGET_RSS_MB} MB  ${rssPass ? 'PASS' : 'FAIL'}` +
          `  (via ${startup.rssHow})`);
      } else {
        console.log(`start-up peak RSS: failed: ${startup.rssError}`);
      }
    }
    console.log('');
  }

  if (notes.length) {
    console.log('notes:');
    for (const n of notes) console.log(`  ${n}`);
    console.log('');
  }

  // Summary
  const passed = rows.filter((r) => r.verdict === 'PASS').length;
  const failedRuns = rows.filter((r) => !r.k.ok).length;
  const parts = [];
  if (rows.length) {
    if (lua) parts.push(`${passed}/${rows.length} programs within ${TARGET_RATIO}x of Lua`);
    else parts.push(`${rows.length - failedRuns}/${rows.length} programs ran in ktap (no Lua to compare)`);
    if (failedRuns) parts.push(`${failedRuns} ktap run(s) failed`);
    const mism = notes.filter((n) => n.includes('MISMATCH')).length;
    if (mism) parts.push(`${mism} output mismatch(es)`);
  }
  if (startup) {
    if (startup.error) parts.push('start-up not measured (ktap failed)');
    else {
      parts.push(`start-up ${startPass ? 'PASS' : 'FAIL'}`);
      if (rssPass !== null) parts.push(`RSS ${rssPass ? 'PASS' : 'FAIL'}`);
    }
  }
  // Rows without a verdict ('—') are context (a floor), not targets.
  const tracing = (await tracingBenchmarks(opts, wanted)).filter((row) => row.verdict !== '—');
  if (tracing.length) parts.push(`tracing: ${tracing.filter((row) => row.verdict === 'PASS').length}/${tracing.length} targets met`);
  console.log(`summary: ${parts.join('; ') || 'nothing run'}`);
}

// ---------------------------------------------------------------------------------------
// Tracing: event path, overhead, start/attach, RSS under load

const say = (text) => process.stdout.write(text);
const ms = (value) => `${value.toFixed(0)} ms`;
const verdictOf = (ok) => (ok ? 'PASS' : 'FAIL');

/** Runs the tracing sections wanted; prints their tables; returns the rows of the target table. */
async function tracingBenchmarks(opts, wanted) {
  const rows = [];
  if (wanted('events')) {
    console.log(`== event path from recorded pages (no kernel), best of ${opts.runs} × ${opts.seconds} s ==`);
    const results = await measureEventPath({ runs: opts.runs, seconds: opts.seconds, log: say });
    console.log('');
    for (const line of formatEventPath(results)) console.log(line);
    console.log('');
    const full = results.find((result) => result.name === 'full');
    if (full && !full.error) {
      rows.push({
        figure: 'event path, s[execname] += 1, events/s on one core',
        measured: `${(full.perSecond / 1e6).toFixed(2)} M`,
        baseline: '—',
        target: `≥ ${(TARGET_EVENTS_PER_SECOND / 1e6).toFixed(1)} M`,
        verdict: verdictOf(full.perSecond >= TARGET_EVENTS_PER_SECOND && full.checked),
      });
    }
  }

  const live = LIVE_SECTIONS.filter((name) => wanted(name));
  if (live.length) {
    const why = liveUnavailable();
    if (why !== null) {
      console.log(`== live tracing benchmarks SKIPPED: ${why} (${live.join(', ')} need root, tracefs and the bundle) ==`);
      console.log('');
      return finishTracing(rows);
    }
    const bpftrace = opts.bpftrace && (live.includes('overhead') || live.includes('attach')) ? ensureBpftrace(say) : null;
    if (bpftrace) console.log(`bpftrace: ${bpftrace}`);
    if (live.includes('overhead')) rows.push(...await overheadSection(opts, bpftrace !== null));
    if (live.includes('attach')) rows.push(...await attachSection(opts, bpftrace !== null));
    if (live.includes('rss')) rows.push(...await rssSection(opts));
    if (live.includes('saturate')) rows.push(...await saturateSection());
  }
  if (wanted('interrupt')) rows.push(...await interruptSection());
  return finishTracing(rows);
}

function finishTracing(rows) {
  if (!rows.length) return rows;
  console.log('== tracing targets ==');
  const head = `${pad('figure', 62)} ${pad('measured', 15, true)} ${pad('baseline', 22, true)} ${pad('target', 16, true)}  verdict`;
  console.log(head);
  console.log('-'.repeat(head.length));
  for (const row of rows) {
    console.log(`${pad(row.figure, 62)} ${pad(row.measured, 15, true)} ${pad(row.baseline, 22, true)} ${pad(row.target, 16, true)}  ${row.verdict}`);
  }
  console.log('');
  return rows;
}

async function overheadSection(opts, bpftrace) {
  console.log(`== overhead on a traced workload: ${opts.calls} getppid calls, ${opts.runs} round(s) ==`);
  console.log(`ktap -e '${COUNT_SCRIPT}'`);
  const result = await measureOverhead({ rounds: opts.runs, calls: opts.calls, bpftrace, log: say });
  const c = result.configs;
  console.log(`(${result.pinning}; ns per call as the loop measures it, best round; "added" is over the best bare round)`);
  const labels = {
    bare: 'bare loop',
    floor: 'event enabled in an instance, no reader (floor)',
    floorReader: 'same + native reader of trace_pipe_raw (raw-reader.c)',
    hookFloor: 'empty eBPF program on the kernel tier\'s hook (floor)',
    ktap: 'ktap --tier kernel (eBPF), counting by execname',
    ktapUser: 'ktap --tier user (tracefs + VM), counting by execname',
    bpftrace: 'bpftrace, @[comm] = count()',
  };
  const head = `${pad('configuration', 56)} ${pad('ns/call', 8, true)} ${pad('worst', 8, true)} ${pad('added', 8, true)}  counted / lost`;
  console.log(head);
  console.log('-'.repeat(head.length));
  for (const [name, label] of Object.entries(labels)) {
    const config = c[name];
    if (name === 'bpftrace' && !bpftrace) continue;
    if (config.error) {
      console.log(`${pad(label, 56)} failed: ${config.error}`);
      continue;
    }
    if (config.best === null) continue;
    const counted = config.counts.length ? config.counts.join(', ') : '';
    const lost = config.lost.length ? `${counted ? ' / ' : ''}lost ${config.lost.join(', ')}` : '';
    console.log(`${pad(label, 56)} ${pad(config.best.toFixed(1), 8, true)} ${pad(config.worst.toFixed(1), 8, true)} ` +
      `${pad(config.added === null ? '—' : config.added.toFixed(1), 8, true)}  ${counted}${lost}${config.spoiled ? '  (SPOILED: only spoiled runs)' : ''}`);
  }
  for (const note of result.spoiled) console.log(`spoiled (others traced sys_enter_getppid too): ${note}`);
  if (result.leftovers.length) console.log(`LEFT IN TRACEFS: ${result.leftovers.join(', ')}`);
  console.log('');
  const rows = [];
  const exact = (config) => config.counts.length > 0 && config.counts.every((n) => n === opts.calls) && config.lost.every((n) => n === 0);
  const against = bpftrace && c.bpftrace.added !== null ? c.bpftrace.added : null;
  for (const [name, tier, ratio] of [['ktap', 'kernel', TARGETS.kernelOverheadRatio], ['ktapUser', 'user', TARGETS.overheadRatio]]) {
    if (c[name].added === null) continue;
    rows.push({
      figure: `ns added per getppid call, --tier ${tier}, counting by execname`,
      measured: against === null ? c[name].added.toFixed(1) : `${c[name].added.toFixed(1)} ${(c[name].added / against).toFixed(2)}×`,
      baseline: against === null ? 'bpftrace: n/a' : `bpftrace ${against.toFixed(1)}`,
      target: `≤ ${ratio}× bpftrace`,
      verdict: against === null ? 'n/a' : verdictOf(c[name].added <= against * ratio),
    });
    // What the hook costs with nothing to do, as a share of bpftrace's whole count: a ratio
    // below it cannot be reached on this host by any program on that hook.
    if (name === 'ktap' && against !== null && c.hookFloor.added !== null) {
      rows.push({
        figure: '— of which the hook itself (an empty program on it)',
        measured: `${c.hookFloor.added.toFixed(1)} ${(c.hookFloor.added / against).toFixed(2)}×`,
        baseline: `bpftrace ${against.toFixed(1)}`,
        target: 'floor',
        verdict: '—',
      });
    }
    rows.push({
      figure: `--tier ${tier}: count = calls, nothing lost (${c[name].counts.length} runs)`,
      measured: exact(c[name]) ? 'exact' : 'NOT EXACT',
      baseline: bpftrace && c.bpftrace.counts.length ? `bpftrace ${exact(c.bpftrace) ? 'exact' : 'NOT EXACT'}` : '—',
      target: 'exact',
      verdict: verdictOf(exact(c[name])),
    });
  }
  return rows;
}

async function attachSection(opts, bpftrace) {
  const runs = Math.max(opts.runs, 5);
  console.log(`== start and attach, ${runs} runs each ==`);
  const result = await measureAttach({ runs, bpftrace, bpftraceAllSyscalls: opts.bpftraceAllSyscalls, log: say });
  const show = (label, entry) => {
    if (!entry) return;
    if (entry.error) console.log(`${pad(label, 62)} failed: ${entry.error}`);
    else console.log(`${pad(label, 62)} ${pad(ms(entry.best), 7, true)} ${pad(ms(entry.median), 7, true)} ${pad(ms(entry.worst), 7, true)}`);
  };
  console.log(`${pad('', 62)} ${pad('best', 7, true)} ${pad('median', 7, true)} ${pad('worst', 7, true)}`);
  show('ktap syscalls:sys_enter_getppid (kernel tier): spawn → banner', result.ktapOne?.start ?? result.ktapOne);
  show('  SIGINT → exit', result.ktapOne?.stop);
  show('ktap syscalls:sys_enter_getppid (user tier): spawn → banner', result.ktapOneUser?.start ?? result.ktapOneUser);
  show('ktap tick-1s (no probe): spawn → banner', result.ktapTick?.start ?? result.ktapTick);
  show('ktap syscalls:sys_enter_* count, kernel tier: spawn → banner', result.ktapKernelSysEnter?.start ?? result.ktapKernelSysEnter);
  show('  beyond the tick-only run before it: start + stop', result.kernelAttachPairs?.total ?? result.kernelAttachPairs);
  show('  timed inside the process: attachPending() + close()', result.kernelAttachInProcess?.total ?? result.kernelAttachInProcess);
  for (const [phase, entry] of Object.entries(result.kernelAttachPhases ?? {})) show(`    ${phase}`, entry);
  show('  SIGINT → exit', result.ktapKernelSysEnter?.stop);
  show("bpftrace -e 'BEGIN { exit() }': spawn → exit", result.bpftraceBegin);
  show('ktap syscalls:*: spawn → banner', result.ktapAll?.start ?? result.ktapAll);
  show('  SIGINT → exit', result.ktapAll?.stop);
  show('  attach + teardown (sum of the two, per run)', result.ktapAll?.total);
  show('tracefs alone: mkdir instance, enable + disable syscalls, rmdir', result.tracefsAll);
  show('node -e 0: spawn → exit', result.nodeStart);
  if (result.bpftraceAll) {
    show("bpftrace 'tracepoint:syscalls:* {}': spawn → BEGIN", result.bpftraceAll.start ?? result.bpftraceAll);
    show('  SIGINT → exit', result.bpftraceAll.stop);
  }
  if (result.leftovers.length) console.log(`LEFT IN TRACEFS: ${result.leftovers.join(', ')}`);
  console.log('');
  const rows = [];
  const one = result.ktapOne?.start;
  const begin = result.bpftraceBegin;
  if (one) {
    const ratio = begin && !begin.error ? one.best / begin.best : null;
    rows.push({
      figure: 'start → banner, trace syscalls:sys_enter_getppid',
      measured: ratio === null ? ms(one.best) : `${ms(one.best)} ${ratio.toFixed(2)}×`,
      baseline: ratio === null ? 'bpftrace: n/a' : `bpftrace ${ms(begin.best)}`,
      target: `≤ ${TARGETS.startRatio}× bpftrace`,
      verdict: ratio === null ? 'n/a' : verdictOf(ratio <= TARGETS.startRatio),
    });
  }
  const user = result.ktapOneUser?.start;
  if (one && user) {
    rows.push({
      figure: 'start → banner growth, kernel tier over user tier (median)',
      measured: ms(one.median - user.median),
      baseline: `user tier ${ms(user.median)}`,
      target: `≤ ${ms(TARGETS.kernelStartGrowthMs)}`,
      verdict: verdictOf(one.median - user.median <= TARGETS.kernelStartGrowthMs),
    });
  }
  const inProcess = result.kernelAttachInProcess?.total;
  const pairs = result.kernelAttachPairs?.total;
  if (inProcess) {
    // attachPending() + close() timed inside a fresh process (median): koffi's load, the maps,
    // the verifier and the attachment, without Node's start, which the load moves the most.
    const attach = inProcess.median;
    rows.push({
      figure: 'attach + teardown of a syscalls:sys_enter_* count, kernel tier',
      measured: `${ms(attach)} (best ${ms(inProcess.best)})`,
      baseline: pairs ? `spawned, beyond tick-only: median ${ms(pairs.median)}` : '—',
      target: `≤ ${ms(TARGETS.kernelAttachMs)}`,
      verdict: verdictOf(attach <= TARGETS.kernelAttachMs),
    });
  }
  const all = result.ktapAll?.total;
  if (all) {
    rows.push({
      figure: 'attach + teardown of syscalls:* (→ banner, SIGINT → exit)',
      measured: ms(all.best),
      baseline: result.tracefsAll && !result.tracefsAll.error ? `tracefs alone ${ms(result.tracefsAll.best)}` : '—',
      target: `≤ ${ms(TARGETS.attachAllSeconds * 1000)}`,
      verdict: verdictOf(all.best <= TARGETS.attachAllSeconds * 1000),
    });
  }
  return rows;
}

async function interruptSection() {
  const why = interruptUnavailable();
  if (why !== null) {
    console.log(`== Ctrl-C during and after the libc attach SKIPPED: ${why} ==`);
    console.log('');
    return [];
  }
  console.log('== Ctrl-C during and after the attach of a uprobe on every libc function (bench/attach-interrupt.mjs) ==');
  const results = await measureAttachInterrupt();
  console.log('');
  const moments = { defining: ['while defining', '0.35 s'], enabling: ['while enabling', '0.54 s'], banner: ['at the banner', '4.1–10.9 s'], running: ['3 s after the banner', '—'] };
  return Object.entries(results).map(([moment, result]) => ({
    figure: `SIGINT → exit, libc.so.6:*, ${moments[moment][0]}`,
    measured: `${(result.exitMs / 1000).toFixed(2)} s`,
    baseline: `${moments[moment][1]} before`,
    target: '≤ 1 s, nothing left',
    verdict: verdictOf(result.exitMs <= 1000 && result.exit === 0 && result.left === 0 && !result.guardianLeft),
  }));
}

async function saturateSection() {
  console.log('== two getppid loops on both CPUs, ~10 s, counted by pid in the kernel tier ==');
  const result = await measureSaturation({ seconds: 10, log: say });
  console.log(`each loop ${result.calls} calls; ktap counted ${result.counts.join(', ')}; lost ${result.lost}; ` +
    `ktap CPU ${result.ktapTicks} ticks, loops ${result.workloadTicks} ticks`);
  console.log('');
  return [
    {
      figure: 'two saturating loops: counts exact, nothing lost',
      measured: result.exact && result.lost === 0 ? 'exact' : 'NOT EXACT',
      baseline: `${result.calls} calls each`,
      target: 'exact, 0 lost',
      verdict: verdictOf(result.exact && result.lost === 0),
    },
    {
      figure: "two saturating loops: ktap's CPU time / the loops'",
      measured: result.share === null ? '?' : `${(result.share * 100).toFixed(2)} %`,
      baseline: `${result.workloadTicks} ticks`,
      target: `≤ ${TARGETS.saturationCpuShare * 100} %`,
      verdict: result.share === null ? 'n/a' : verdictOf(result.share <= TARGETS.saturationCpuShare),
    },
  ];
}

async function rssSection(opts) {
  console.log(`== peak RSS under load: ktap -q -e '${COUNT_SCRIPT}' -- getppid-loop ${opts.calls}, ${opts.runs} run(s) ==`);
  const result = await measureRss({ runs: opts.runs, calls: opts.calls, log: say });
  if (result.error) {
    console.log(`peak RSS: failed: ${result.error}`);
    console.log('');
    return [];
  }
  console.log(`peak RSS (/usr/bin/time -f %M): best ${result.mb.best.toFixed(1)} MB, median ${result.mb.median.toFixed(1)} MB, ` +
    `worst ${result.mb.worst.toFixed(1)} MB`);
  console.log(`the loop under \`-- cmd\` (pid-filtered): ${result.nsPerCall.map((n) => (n === null ? '?' : n.toFixed(1))).join(', ')} ns/call; ` +
    `ktap counted ${result.counts.join(', ')}; lost ${result.lost.join(', ')}`);
  if (result.leftovers.length) console.log(`LEFT IN TRACEFS: ${result.leftovers.join(', ')}`);
  console.log('');
  const exact = result.counts.every((n) => n === opts.calls) && result.lost.every((n) => n === 0);
  return [{
    figure: `peak RSS of a counting script under load (worst of ${result.mb.runs.length})`,
    measured: `${result.mb.worst.toFixed(1)} MB`,
    baseline: `count ${exact ? 'exact' : 'NOT EXACT'}`,
    target: `≤ ${TARGETS.rssMB} MB`,
    verdict: verdictOf(result.mb.worst <= TARGETS.rssMB),
  }];
}

try {
  await main();
} catch (e) {
  process.stderr.write(`bench: harness error: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
}
