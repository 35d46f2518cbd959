// Benchmark of `ktap --metrics`: one /metrics scrape with a table of 0, 1,000 and 10,000
// keys, plain and gzip: wall time from request to last byte, and the CPU time ktap spent on
// it (from its own process_cpu_seconds_total, so a loaded machine inflates it less). No root
// needed: the run only ticks.
//
//   node bench/metrics/scrape.mjs [--scrapes N]     (default 30 per case, after 3 warm-ups)

import { spawn } from 'node:child_process';
import { request, Agent } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ktap = join(root, 'bin', 'ktap');
const scrapesArgument = process.argv.indexOf('--scrapes');
const SCRAPES = scrapesArgument > 0 ? Number(process.argv[scrapesArgument + 1]) : 30;

/** Starts ktap serving a table of `keys` keys like a per-process count; resolves with its URL. */
function serve(keys) {
  const script = `var calls = {} for (i = 1, ${keys}) { calls["process-" .. i] = i * 7 } tick-100s { }`;
  const child = spawn(process.execPath, [ktap, '--metrics', '127.0.0.1:0', '--metrics-max-keys', '0', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const url = /serving metrics at (\S+)/.exec(stderr)?.[1];
      if (url !== undefined) resolve({ url, child });
    });
    child.on('exit', (code) => reject(new Error(`ktap exited (${code}): ${stderr}`)));
  });
}

/** One scrape over a kept-alive connection: [milliseconds, bytes on the wire, body]. */
function scrape(url, agent, gzip) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request(url, { agent, headers: { 'Accept-Encoding': gzip ? 'gzip' : 'identity' } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve([Number(process.hrtime.bigint() - started) / 1e6, body.length, body.toString()]);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

console.log(`== /metrics scrape time, ${SCRAPES} scrapes per case after 3 warm-ups ==`);
/** ktap's CPU seconds, as its own scrape says. */
async function cpuSeconds(url, agent) {
  const [, , body] = await scrape(url, agent, false);
  return Number(/^process_cpu_seconds_total (\S+)$/m.exec(body)[1]);
}

console.log('keys    encoding  median ms  p90 ms  ktap CPU ms  bytes');
for (const keys of [0, 1000, 10000]) {
  const { url, child } = await serve(keys);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (const gzip of [false, true]) {
    for (let warm = 0; warm < 3; warm++) await scrape(url, agent, gzip);
    const times = [];
    let bytes = 0;
    const cpuBefore = await cpuSeconds(url, agent);
    for (let index = 0; index < SCRAPES; index++) {
      const [ms, size] = await scrape(url, agent, gzip);
      times.push(ms);
      bytes = size;
    }
    // Between the two readings: the end of the first scrape, SCRAPES scrapes, the start of the last.
    const cpuMs = ((await cpuSeconds(url, agent)) - cpuBefore) * 1000 / (SCRAPES + 1);
    times.sort((a, b) => a - b);
    console.log(`${String(keys).padEnd(8)}${(gzip ? 'gzip' : 'plain').padEnd(10)}${quantile(times, 0.5).toFixed(2).padStart(9)}` +
      `${quantile(times, 0.9).toFixed(2).padStart(8)}${cpuMs.toFixed(2).padStart(13)}  ${bytes}`);
  }
  agent.destroy();
  child.kill('SIGINT');
  await new Promise((resolve) => child.on('exit', resolve));
}
