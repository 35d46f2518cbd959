#!/usr/bin/env node
// Language-core benchmark: runs the programs of bench/vm/ in ktap and in Lua 5.4, checks
// both print the same result, and compares wall-clock times against the target ratio.
// Then measures ktap's start-up (wall time and peak RSS of `ktap -e 'print(1)'`).
//
//   node bench/run.mjs [--runs N] [--only NAME[,NAME...]] [--timeout SEC] [--no-startup]
//
// Exit code 0 whether or not the targets are met (this is a benchmark, not a test);
// non-zero only when the harness itself breaks.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

// ---------------------------------------------------------------------------------------
// Options

function usage(code) {
  const text = `usage: node bench/run.mjs [options]
  --runs N           timed runs per program, best one kept (default 3)
  --only NAME[,..]   run only these programs (${PROGRAMS.map((p) => p.name).join(', ')}, startup)
  --timeout SEC      give up on a single run after SEC seconds (default 300)
  --no-startup       skip the start-up measurement
  -h, --help         this text
`;
  (code ? process.stderr : process.stdout).write(text);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = { runs: 3, only: null, timeoutMs: 300_000, startup: true };
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
    } else if (a === '-h' || a === '--help') {
      usage(0);
    } else {
      process.stderr.write(`bench: unknown option '${a}'\n`);
      usage(2);
    }
  }
  if (opts.only) {
    const known = new Set([...PROGRAMS.map((p) => p.name), 'startup']);
    for (const n of opts.only) {
      if (!known.has(n)) {
        process.stderr.write(`bench: unknown program '${n}'\n`);
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

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const wanted = (name) => !opts.only || opts.only.includes(name);

  console.log(`ktap language-core benchmark — node ${process.version}, best of ${opts.runs} run(s)`);
  const lua = ensureLua();
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
  console.log(`summary: ${parts.join('; ') || 'nothing run'}`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`bench: harness error: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
}
