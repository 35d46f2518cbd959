// The fleet benchmark: three sshd "hosts" on 127.0.0.2-4 (as in test/fleet), each tracing a
// paced workload of RATE events/s for SECONDS through `ktap --hosts … -- paced`. Reports the
// coordinator's CPU and peak RSS, the delay from an event on a host to the merged view, and
// the protocol bytes per second per host. Run: node --import=tsx bench/fleet/fleet.ts [--rate N] [--seconds S] [--interval MS]

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientOptions, makeKeys, sshUnavailable, startSshd, type SshServer } from '../../test/support/sshd';

const root = join(__dirname, '..', '..');
const option = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(name);
  return index < 0 ? fallback : Number(process.argv[index + 1]);
};
const rate = option('--rate', 100_000);
const seconds = option('--seconds', 20);
const intervalMs = option('--interval', 1000);
const CLOCK_TICKS = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s

// Each getpgid event (4 a second) leaves its event time under a key of its own; the
// coordinator's tick notes when each key first shows in the merged view.
const script = `
var s = {} var marks = {} var seen = {} var n = 0
trace syscalls:sys_enter_getppid { s[execname] += 1 }
trace syscalls:sys_enter_getpgid { n += 1 marks[host() .. "#" .. n] = gettimeofday_us() }
tick-10ms { for (k, t in pairs(marks)) { if (!seen[k]) { printf("delay %d\\n", gettimeofday_us() - t) seen[k] = true } } }
trace_end { print_hist(s) }
`;

function cpuAndPeak(pid: number): { cpuSeconds: number; peakKb: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    return { cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS, peakKb: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) };
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const unavailable = sshUnavailable();
  if (unavailable !== undefined) {
    console.log(`SKIPPED fleet: ${unavailable}`);
    return;
  }
  const directory = mkdtempSync(join(tmpdir(), 'ktap-fleet-bench-'));
  const servers: SshServer[] = [];
  try {
    const keys = makeKeys(directory);
    const paced = join(directory, 'paced');
    execFileSync('cc', ['-O2', '-o', paced, join(__dirname, 'paced.c')]);
    for (const index of [2, 3, 4]) servers.push(await startSshd(directory, keys, `127.0.0.${index}`, { env: { XDG_CACHE_HOME: join(directory, `cache-${index}`) } }));
    const hosts = servers.map((server) => `root@${server.address}:${server.port}`);
    const child = spawn(process.execPath, [join(root, 'bin', 'ktap'), '-v', '--hosts', hosts.join(','), '--interval', String(intervalMs),
      '--max-table-entries', '0', '-e', script, '--', paced, String(rate), String(seconds)], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KTAP_SSH_COMMAND: ['ssh', ...clientOptions(keys)].join(' ') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let last: { cpuSeconds: number; peakKb: number } | null = null;
    let tracingAt: { at: number; cpuSeconds: number } | null = null;
    const sampler = setInterval(() => {
      const sample = cpuAndPeak(child.pid!);
      // A process that has just exited has no memory figures left: keep the highest seen.
      if (sample !== null) last = { cpuSeconds: sample.cpuSeconds, peakKb: Math.max(sample.peakKb, last?.peakKb ?? 0) };
      if (tracingAt === null && last !== null && stdout.includes('Tracing...')) tracingAt = { at: performance.now(), cpuSeconds: last.cpuSeconds };
    }, 100);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const endedAt = performance.now();
    clearInterval(sampler);
    if (code !== 0) throw new Error(`ktap exited ${code}:\n${stderr}`);

    const delays = [...stdout.matchAll(/^delay (-?\d+)$/gm)].map((match) => Number(match[1]) / 1000).sort((a, b) => a - b);
    const merged = Number(/^\s+paced \|@*\s*(\d+)\s*$/m.exec(stdout)?.[1] ?? NaN);
    const wire = [...stderr.matchAll(/^ktap: \[(\S+)\] .*; (\d+) events, (\d+) lost; (\d+) bytes received, (\d+) B\/s/gm)];
    const traced = tracingAt === null ? NaN : (endedAt - tracingAt.at) / 1000;
    const cpu = last === null || tracingAt === null ? NaN : ((last.cpuSeconds - tracingAt.cpuSeconds) / traced) * 100;
    const quantile = (q: number): number => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? NaN;

    console.log(`fleet: 3 hosts × ${rate} events/s for ${seconds} s, --interval ${intervalMs} ms`);
    console.log(`  merged count            ${merged} (expected ${3 * Math.floor(rate / 100) * seconds * 100})`);
    console.log(`  coordinator CPU         ${cpu.toFixed(1)} % of one core while tracing (${traced.toFixed(1)} s)`);
    console.log(`  coordinator peak RSS    ${((last?.peakKb ?? NaN) / 1024).toFixed(1)} MiB`);
    console.log(`  event → merged view     median ${quantile(0.5).toFixed(0)} ms, p90 ${quantile(0.9).toFixed(0)} ms, max ${(delays.at(-1) ?? NaN).toFixed(0)} ms` +
      ` over ${delays.length} marker events (target ≤ ${2 * intervalMs} ms: ${(delays.at(-1) ?? Infinity) <= 2 * intervalMs ? 'PASS' : 'FAIL'})`);
    for (const [, host, events, lost, bytes, perSecond] of wire) {
      console.log(`  ${host.padEnd(24)} ${events} events, ${lost} lost, ${bytes} bytes on the wire, ${perSecond} B/s`);
    }
  } finally {
    for (const server of servers) await server.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`fleet bench: ${(error as Error).message}`);
  process.exit(1);
});
