// OpenSSH servers for the tests that go over ssh (the dashboard over ssh, the fleet): keys
// made for the test, one sshd per loopback address on a free port, torn down by the test.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';

export const SSHD = '/usr/sbin/sshd';

/** Why no sshd can be started here, or undefined when one can. */
export function sshUnavailable(): string | undefined {
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install -y openssh-server)`;
  if (spawnSync('ssh', ['-V']).status !== 0) return 'the ssh client is missing';
  if (process.getuid?.() !== 0) return 'sshd needs root here';
  return undefined;
}

export interface SshKeys {
  /** The client's private key; its public half is authorized on every server made with these keys. */
  readonly userKey: string;
  readonly hostKey: string;
  readonly authorizedKeys: string;
}

/** A fresh host key and user key in `directory`, the user key authorized. */
export function makeKeys(directory: string, name = 'user'): SshKeys {
  const hostKey = join(directory, 'host_ed25519');
  const userKey = join(directory, `${name}_ed25519`);
  for (const key of [hostKey, userKey]) {
    if (!existsSync(key)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ktap-test', '-f', key]);
  }
  const authorizedKeys = join(directory, 'authorized_keys');
  writeFileSync(authorizedKeys, readFileSync(userKey + '.pub'));
  return { userKey, hostKey, authorizedKeys };
}

/** ssh client options for a test server: this key, no host-key prompts or records, errors only. */
export function clientOptions(keys: SshKeys): string[] {
  return ['-i', keys.userKey, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'IdentitiesOnly=yes'];
}

export interface SshServer {
  readonly address: string;
  readonly port: number;
  /** The listening sshd (each connection is served by children of it). */
  readonly process: ChildProcess;
  /** What sshd wrote to stderr so far. */
  log(): string;
  /** Stops the server (its connections' processes end as their clients go). */
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** Environment variables sshd sets for every session (SetEnv). */
  readonly env?: Readonly<Record<string, string>>;
}

/** An sshd listening on `address` (127.0.0.1, 127.0.0.2, …) with these keys, root allowed by key only. */
export async function startSshd(directory: string, keys: SshKeys, address = '127.0.0.1', options: ServerOptions = {}): Promise<SshServer> {
  const config = join(directory, `sshd_config.${address}`);
  const setEnv = Object.entries(options.env ?? {}).map(([name, value]) => `${name}=${value}`);
  writeFileSync(config, [
    `ListenAddress ${address}`,
    `HostKey ${keys.hostKey}`,
    'PermitRootLogin yes',
    `AuthorizedKeysFile ${keys.authorizedKeys}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    `PidFile ${join(directory, `sshd.${address}.pid`)}`,
    'PrintMotd no',
    'PrintLastLog no',
    ...(setEnv.length > 0 ? [`SetEnv ${setEnv.join(' ')}`] : []),
    '',
  ].join('\n'));
  // sshd insists on its privilege-separation directory, which only its service unit creates.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort(address);
  let log = '';
  const sshd = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  sshd.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((resolve) => sshd.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await accepting(address, port))) {
    if (sshd.exitCode !== null || Date.now() > deadline) {
      if (sshd.exitCode === null) sshd.kill('SIGTERM');
      throw new Error(`sshd did not start listening on ${address}:${port}; it said:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    address,
    port,
    process: sshd,
    log: () => log,
    stop: async () => {
      if (sshd.exitCode === null && sshd.signalCode === null) sshd.kill('SIGTERM');
      await exited;
    },
  };
}

/** A TCP port free on `address` now. */
function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, address, () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function accepting(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: address, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
