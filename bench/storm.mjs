#!/usr/bin/env node
// The storm benchmark: `trace *:*` on a busy machine for N seconds. It reports ktap's RSS
// every few seconds, the events lost per CPU, the time from SIGINT to exit, and what was left.
//
//   node bench/storm.mjs [--seconds 60] [--every 5] [--script 'ONE-LINER']
//
// Needs root and tracefs. The workload is two shell loops of its own: one forks and
// execs /bin/true without pause (scheduler, exec, mm and syscall events); one copies
// bytes with `dd bs=1` (two syscalls per byte). Both are stopped at the end. Exits 0
// unless the harness itself fails.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tracefs = '/sys/kernel/tracing';

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index < 0 ? fallback : process.argv[index + 1];
}
const seconds = Number(option('--seconds', '60'));
const every = Number(option('--every', '5'));
const script = option('--script', 'var n = 0 trace *:* { n += 1 } trace_end { printf("delivered %d\\n", n) }');

if (process.getuid?.() !== 0 || !existsSync(join(tracefs, 'instances'))) {
  console.log('SKIPPED: the storm benchmark needs root and tracefs');
  process.exit(0);
}
spawnSync(process.execPath, [join(root, 'build.mjs')], { cwd: root, stdio: 'ignore' });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const rssMb = (pid) => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return NaN;
  }
};
const leftovers = (pid) => [
  ...readdirSync(join(tracefs, 'instances')).filter((name) => name.startsWith(`ktap-${pid}-`)),
  ...readFileSync(join(tracefs, 'uprobe_events'), 'latin1').split('\n').filter((line) => line.includes(`ktap_${pid}`)),
];

const workloads = [
  spawn('/bin/sh', ['-c', 'while :; do /bin/true; done'], { stdio: 'ignore', detached: true }),
  spawn('/bin/sh', ['-c', 'dd if=/dev/zero of=/dev/null bs=1 2>/dev/null'], { stdio: 'ignore', detached: true }),
];
const stopWorkloads = () => {
  for (const child of workloads) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
};
process.on('exit', stopWorkloads);

const started = performance.now();
const ktap = spawn(process.execPath, [join(root, 'bin', 'ktap'), '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
let stdout = '';
let stderr = '';
ktap.stdout.on('data', (chunk) => (stdout += chunk));
ktap.stderr.on('data', (chunk) => (stderr += chunk));
const exited = new Promise((resolve) => ktap.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() })));

while (!stdout.includes('Tracing...')) {
  if (ktap.exitCode !== null) break;
  await sleep(20);
}
const attachMs = performance.now() - started;
console.log(`storm: ${script}`);
console.log(`attached in ${(attachMs / 1000).toFixed(2)} s; tracing for ${seconds} s with RSS every ${every} s`);
console.log('    t (s)   RSS (MB)');
const samples = [];
for (let elapsed = 0; elapsed <= seconds && ktap.exitCode === null; elapsed += every) {
  const rss = rssMb(ktap.pid);
  samples.push(rss);
  console.log(`${String(elapsed).padStart(9)} ${rss.toFixed(1).padStart(10)}`);
  if (elapsed + every <= seconds) await sleep(every * 1000);
}
const signalled = performance.now();
ktap.kill('SIGINT');
const end = await exited;
stopWorkloads();
const exitMs = end.at - signalled;
const goneAt = performance.now();
let gone = leftovers(ktap.pid).length === 0;
while (!gone && performance.now() - goneAt < 120_000) {
  await sleep(50);
  gone = leftovers(ktap.pid).length === 0;
}
const cleanMs = performance.now() - signalled;

console.log(`SIGINT → exit: ${exitMs.toFixed(0)} ms (exit ${end.code ?? end.signal})`);
console.log(`RSS: min ${Math.min(...samples).toFixed(1)} MB, max ${Math.max(...samples).toFixed(1)} MB, last ${samples.at(-1).toFixed(1)} MB`);
console.log(`left behind: ${gone ? `nothing (everything gone ${cleanMs.toFixed(0)} ms after SIGINT)` : leftovers(ktap.pid).join(', ')}`);
console.log(`ktap stdout: ${stdout.replace('Tracing... Hit Ctrl-C to end.\n', '').trim()}`);
console.log(`ktap stderr:\n${stderr.trim().replace(/^/gm, '  ')}`);
