// The /metrics endpoint of a real ktap process (no kernel events needed): what it answers,
// a bind failure as one line and exit 1, and no listening socket inherited by `-- cmd`.

import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { ktap, root } from '../support/tracing';

/** Starts ktap and resolves with the URL it serves at, once it says so on stderr. */
function startServing(args: string[]): Promise<{ url: string; stop: () => Promise<{ code: number | null; stdout: string }> }> {
  const child = spawn(process.execPath, [ktap, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('latin1')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('latin1');
      const url = /serving metrics at (\S+)/.exec(stderr)?.[1];
      if (url !== undefined) resolve({ url, stop: async () => (child.kill('SIGINT'), { code: await exited, stdout }) });
    });
    void exited.then((code) => reject(new Error(`ktap exited (${code}) before serving: ${stderr}`)));
  });
}

t.test('GET /metrics: the exposition text, gzip when asked; other paths and methods refused', async (t) => {
  const served = await startServing(['--metrics', '127.0.0.1:0', '-e', 'var ticks = {} ticks["a b"] = 2 tick-100s { } trace_end { print("end") }']);
  const plain = await fetch(served.url, { headers: { 'Accept-Encoding': 'identity' } });
  t.equal(plain.status, 200);
  t.equal(plain.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await plain.text();
  t.match(text, /^# TYPE ktap_ticks counter\nktap_ticks\{key="a b"\} 2\n/m);
  const zipped = await fetch(served.url, { headers: { 'Accept-Encoding': 'gzip' } });
  t.equal(zipped.headers.get('content-encoding'), 'gzip', 'compressed for a scraper that accepts gzip');
  t.match(await zipped.text(), /^ktap_ticks\{key="a b"\} 2$/m, 'and whole once decompressed');
  const base = served.url.replace(/\/metrics$/, '');
  t.equal((await fetch(`${base}/other`)).status, 404);
  t.equal((await fetch(served.url, { method: 'POST' })).status, 405);
  const { code, stdout } = await served.stop();
  t.equal(code, 0, 'Ctrl-C ends it as any tracing run');
  t.match(stdout, /end\n$/, 'trace_end ran');
});

t.test('a port in use or a malformed address: one line on stderr, exit 1', async (t) => {
  const holder: Server = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  const port = (holder.address() as { port: number }).port;
  const inUse = spawnSync(process.execPath, [ktap, '--metrics', `127.0.0.1:${port}`, '-e', 'tick-1s { }'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(inUse.stderr, `error: --metrics: cannot listen on 127.0.0.1:${port}: the address is already in use\n`);
  t.equal(inUse.stdout, '', 'nothing ran');
  t.equal(inUse.status, 1);
  const malformed = spawnSync(process.execPath, [ktap, '--metrics', 'localhost:http', '-e', 'tick-1s { }'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(malformed.stderr, "error: option --metrics: expected [ADDR:]PORT, as in 9100 or 127.0.0.1:9100 (see 'ktap -h')\n");
  t.equal(malformed.status, 1);
});

t.test('-- cmd does not inherit the listening socket', async (t) => {
  // The workload prints the sockets it holds and the kernel's table of TCP sockets (with inodes).
  const workload = 'for fd in /proc/$$/fd/*; do echo "fd $(readlink $fd)"; done; cat /proc/net/tcp';
  const result = spawnSync(process.execPath, [ktap, '--metrics', '127.0.0.1:0', '-e', 'tick-100s { }', '--', 'sh', '-c', workload],
    { encoding: 'utf8', timeout: 30_000 });
  t.equal(result.status, 0, result.stderr);
  const port = Number(/serving metrics at http:\/\/127\.0\.0\.1:(\d+)\//.exec(result.stderr)?.[1]);
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  // /proc/net/tcp: sl local_address rem_address st … inode (10th column); 0A is LISTEN.
  const listening = result.stdout.split('\n').map((line) => line.trim().split(/\s+/))
    .find((columns) => columns[1] === `0100007F:${hexPort}` && columns[3] === '0A');
  t.ok(listening, 'the listening socket is in the kernel\'s table while the workload runs');
  const held = result.stdout.split('\n').filter((line) => line.startsWith('fd socket:'));
  t.notOk(held.includes(`fd socket:[${listening?.[9]}]`), 'the workload does not hold it');
});
