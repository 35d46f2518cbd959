// ktap --metrics scraped by a real Prometheus server (the Debian package), started here with
// its own storage and port: after its scrapes, its query API returns the workload's exact count.

import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ktap, tracingUnavailable } from '../support/tracing';
import { compile, WORKLOAD_C } from '../support/workloads';

const prometheus = '/usr/bin/prometheus';
const CALLS = 3000;

function unavailableReason(): string | undefined {
  if (!existsSync(prometheus)) return `${prometheus} is not installed (.ci/packages lists it)`;
  return tracingUnavailable();
}

/** A port free on 127.0.0.1 now (Prometheus cannot tell which port it picked itself). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.on('exit', resolve));
}

/** Waits until `check` gives a value (or throws after `seconds`), asking every 200 ms. */
async function eventually<T>(what: string, seconds: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const reason = unavailableReason();
t.test('Prometheus scrapes ktap --metrics and its API returns the exact count', { skip: reason ?? false }, async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'ktap-prometheus-'));
  const started: ChildProcess[] = [];
  t.teardown(async () => {
    // ktap by SIGINT, so it removes its tracing instance; then Prometheus; then the files.
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill(child === tracer ? 'SIGINT' : 'SIGTERM');
    await Promise.all(started.map(exited));
    rmSync(directory, { recursive: true, force: true });
  });
  const workload = compile(directory, WORKLOAD_C, 'workload');

  const tracer = spawn(process.execPath, [ktap, '--metrics', '127.0.0.1:0', '-e',
    'var calls = {} trace syscalls:sys_enter_getppid { calls[pid] += 1 } trace_end { print("end") }'], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(tracer);
  let stdout = '';
  let stderr = '';
  tracer.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('latin1')));
  tracer.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('latin1')));
  const target = await eventually('ktap to attach', 60, async () =>
    stdout.includes('Tracing...') ? /serving metrics at http:\/\/(127\.0\.0\.1:\d+)\//.exec(stderr)?.[1] : undefined);

  const apiPort = await freePort();
  writeFileSync(join(directory, 'prometheus.yml'), [
    'global:',
    '  scrape_interval: 500ms',
    '  scrape_timeout: 400ms',
    'scrape_configs:',
    '  - job_name: ktap',
    '    static_configs:',
    `      - targets: ['${target}']`,
    '',
  ].join('\n'));
  const server = spawn(prometheus, [
    `--config.file=${join(directory, 'prometheus.yml')}`, `--storage.tsdb.path=${join(directory, 'data')}`,
    `--web.listen-address=127.0.0.1:${apiPort}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let serverLog = '';
  server.stderr!.on('data', (chunk: Buffer) => (serverLog += chunk.toString('latin1')));
  started.push(server);

  const child = spawn(workload, ['getppid', String(CALLS)], { stdio: 'ignore' });
  t.equal(await exited(child), 0, 'the workload ran');
  const query = async (expression: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
    const response = await fetch(`http://127.0.0.1:${apiPort}/api/v1/query?query=${encodeURIComponent(expression)}`);
    const body = (await response.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(JSON.stringify(body));
    return body.data.result;
  };
  const scrapes = await eventually('two scrapes', 60, async () => {
    const result = await query('count_over_time(up{job="ktap"}[5m])');
    return Number(result[0]?.value[1]) >= 2 ? Number(result[0]!.value[1]) : undefined;
  }).catch((error: Error) => {
    throw new Error(`${error.message}; prometheus said: ${serverLog}`);
  });
  t.ok(scrapes >= 2, `${scrapes} scrapes`);
  // A scrape taken while the workload ran saw part of its calls; the next one sees them all.
  let count: string | undefined;
  await eventually('the workload\'s whole count', 30, async () => {
    count = (await query(`ktap_calls{job="ktap",key="${child.pid}"}`))[0]?.value[1];
    return count === String(CALLS) ? count : undefined;
  }).catch(() => undefined);
  t.equal(count, String(CALLS), 'the exact number of getppid calls of the workload');
  t.same((await query('up{job="ktap"}')).map((sample) => sample.value[1]), ['1'], 'the target is up');
  const metadata = (await (await fetch(`http://127.0.0.1:${apiPort}/api/v1/metadata?metric=ktap_calls`)).json()) as { data: Record<string, Array<{ type: string }>> };
  t.equal(metadata.data.ktap_calls?.[0]?.type, 'counter', 'a table that only grows is a counter');

  // The handler runs in the kernel tier (a pid key, a number): ktap's own counters count its runs.
  const own = await (await fetch(`http://${target}/metrics`)).text();
  const total = (family: string): number => [...own.matchAll(new RegExp(`^${family}\\{[^}]*\\} (\\d+)$`, 'gm'))].reduce((sum, match) => sum + Number(match[1]), 0);
  t.ok(total('ktap_events_total') >= CALLS, `ktap_events_total counts the kernel tier's runs (${total('ktap_events_total')})`);
  t.ok(total('ktap_handler_runs_total') >= CALLS, `ktap_handler_runs_total too (${total('ktap_handler_runs_total')})`);

  tracer.kill('SIGINT');
  t.equal(await exited(tracer), 0);
  t.match(stdout, /\nend\n$/, 'trace_end ran at Ctrl-C');
});
