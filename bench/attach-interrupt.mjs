#!/usr/bin/env node
// Ctrl-C during the largest attach: `trace probe:LIBC:*` places a uprobe on each of libc's
// ~2,600 functions. SIGINT is sent at three moments (while the probes are defined, while
// they are enabled, after the banner); for each the bench prints the time from SIGINT to
// ktap's exit and until nothing of the run is left in tracefs (the guardian removes enabled
// uprobes after ktap has exited, ~27 ms each).
//
//   node bench/attach-interrupt.mjs [--defined 1000] [--enabled 300]
//
// Needs root and tracefs. Exits 0 unless the harness itself fails.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tracefs = '/sys/kernel/tracing';

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return Number(index < 0 ? fallback : process.argv[index + 1]);
}
const definedAt = option('--defined', 1000);
const enabledAt = option('--enabled', 300);

if (process.getuid?.() !== 0 || !existsSync(join(tracefs, 'instances'))) {
  console.log('SKIPPED: needs root and tracefs');
  process.exit(0);
}
const libc = /\s(\/\S*\/libc\.so\.6)$/m.exec(readFileSync('/proc/self/maps', 'latin1'))?.[1];
if (libc === undefined) {
  console.log('SKIPPED: no libc.so.6 mapped');
  process.exit(0);
}
spawnSync(process.execPath, [join(root, 'build.mjs')], { cwd: root, stdio: 'ignore' });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const read = (path) => {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return '';
  }
};
const instances = (pid) => readdirSync(join(tracefs, 'instances')).filter((name) => name.startsWith(`ktap-${pid}-`));
const definitions = (pid) => read(join(tracefs, 'uprobe_events')).split('\n').filter((line) => line.includes(`ktap_${pid}`)).length;
const enabled = (pid) => instances(pid).reduce((sum, name) => sum + read(join(tracefs, 'instances', name, 'set_event')).split('\n').filter(Boolean).length, 0);
const leftovers = (pid) => instances(pid).length + definitions(pid);

async function interrupt(when, ready) {
  const ktap = spawn(process.execPath, [join(root, 'bin', 'ktap'), '-e', `trace probe:${libc}:* { }`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  ktap.stdout.on('data', (chunk) => (output += chunk));
  ktap.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => ktap.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() })));
  const started = performance.now();
  let state = '';
  while (ktap.exitCode === null) {
    state = ready(ktap.pid, output);
    if (state) break;
    await sleep(20);
  }
  const signalled = performance.now();
  ktap.kill('SIGINT');
  const end = await exited;
  while (leftovers(ktap.pid) > 0 && performance.now() - signalled < 300_000) await sleep(50);
  const gone = performance.now() - signalled;
  console.log(`${when.padEnd(34)} ${state.padEnd(26)} ${((signalled - started) / 1000).toFixed(1).padStart(6)} s ` +
    `${(end.at - signalled).toFixed(0).padStart(8)} ms ${(gone / 1000).toFixed(1).padStart(8)} s   exit ${end.code ?? end.signal}`);
}

console.log(`Ctrl-C during the attach of probe:${libc}:*`);
console.log(`${'when'.padEnd(34)} ${'state at SIGINT'.padEnd(26)} ${'after'.padStart(8)} ${'→ exit'.padStart(11)} ${'all gone'.padStart(10)}`);
await interrupt('while the probes are defined', (pid) => {
  const count = definitions(pid);
  return count >= definedAt ? `${count} defined` : '';
});
await interrupt('while they are enabled', (pid) => {
  const count = enabled(pid);
  return count >= enabledAt ? `${count} enabled` : '';
});
await interrupt('after the banner', (pid, output) => (output.includes('Tracing...') ? `${enabled(pid)} enabled` : ''));
