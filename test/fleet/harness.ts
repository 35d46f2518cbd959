// Shared by the fleet tests: three sshd "hosts" on 127.0.0.2-4 started with keys made for
// the test (each host's workload size and name come from its sshd's SetEnv), ktap runs
// against them, and the processes found below each server.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientOptions, makeKeys, sshUnavailable, startSshd, type SshKeys, type SshServer } from '../support/sshd';
import { ktap, root } from '../support/tracing';
import { shellQuote } from '../support/tmux';
import { compile, WORKLOAD_C } from '../support/workloads';

/** Why the fleet tests cannot run here, or undefined. */
export function fleetUnavailable(): string | undefined {
  const ssh = sshUnavailable();
  if (ssh !== undefined) return ssh;
  const probe = spawnSync(process.execPath, [ktap, '-le', 'syscalls:sys_enter_getppid'], { encoding: 'utf8' });
  if (probe.status !== 0 || !probe.stdout.includes('sys_enter_getppid')) return probe.stderr.trim() || 'no syscalls:sys_enter_getppid tracepoint';
  return undefined;
}

/** Pids of the processes below `pid` whose command line contains `marker`. */
export function descendants(pid: number, marker: string): number[] {
  const table = spawnSync('ps', ['-e', '-o', 'pid=,ppid=,args='], { encoding: 'utf8' }).stdout.split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)).filter((match) => match !== null)
    .map((match) => ({ pid: Number(match![1]), ppid: Number(match![2]), args: match![3]! }));
  const below = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const row of table) {
      if (below.has(row.ppid) && !below.has(row.pid)) {
        below.add(row.pid);
        grew = true;
      }
    }
  }
  return table.filter((row) => below.has(row.pid) && row.pid !== pid && row.args.includes(marker)).map((row) => row.pid);
}

export interface Run {
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
  signal(name: NodeJS.Signals): void;
  /** Writes a line to ktap's stdin (a REPL's input); `end()` closes it. */
  line(text: string): void;
  end(): void;
}

export const HOST_NAMES = ['a', 'b', 'c'] as const;
/** getppid calls of each host's workload. */
export const CALLS: Record<string, number> = { a: 1000, b: 2000, c: 3000 };

/** Counts getppid by execname (s) and the workload's by host() (per_host, printed as LABEL=N). */
export const COUNTING = [
  'var s = {} var per_host = {}',
  'trace syscalls:sys_enter_getppid { s[execname] += 1 if (execname == "workload") { per_host[host()] += 1 } }',
  'trace_end { print_hist(s) for (k, v in pairs(per_host)) { printf("%s=%d\\n", k, v) } }',
].join('\n');

export class TestFleet {
  readonly servers: SshServer[] = [];
  readonly keys: SshKeys;
  readonly sshCommand: string;
  /** test/session/workload.c, built for the test. */
  readonly workload: string;

  private constructor(readonly directory: string) {
    this.keys = makeKeys(directory);
    this.sshCommand = ['ssh', ...clientOptions(this.keys)].map(shellQuote).join(' ');
    this.workload = compile(directory, WORKLOAD_C, 'workload');
  }

  /** The three servers, up; `stop()` tears everything down. */
  static async start(): Promise<TestFleet> {
    const fleet = new TestFleet(mkdtempSync(join(tmpdir(), 'ktap-fleet-')));
    for (const [index, name] of HOST_NAMES.entries()) {
      fleet.servers.push(await startSshd(fleet.directory, fleet.keys, `127.0.0.${index + 2}`, {
        env: { XDG_CACHE_HOME: fleet.cacheOf(name), KTAP_TEST_CALLS: String(CALLS[name]), KTAP_TEST_HOST: name },
      }));
    }
    return fleet;
  }

  async stop(): Promise<void> {
    for (const server of this.servers) await server.stop();
    rmSync(this.directory, { recursive: true, force: true });
  }

  label(index: number): string {
    return `root@${this.servers[index]!.address}:${this.servers[index]!.port}`;
  }

  /** A label as a regular expression source. */
  labelPattern(index: number): string {
    return this.label(index).replace(/\./g, '\\.');
  }

  hostList(): string {
    return HOST_NAMES.map((_, index) => this.label(index)).join(',');
  }

  /** The bundle cache of a host. */
  cacheOf(name: string): string {
    return join(this.directory, `cache-${name}`);
  }

  /** `-- cmd`: each host makes its own number of getppid calls, says `done NAME`, then runs `after`. */
  perHostCommand(after = ''): string[] {
    return ['sh', '-c', `${shellQuote(this.workload)} getppid "$KTAP_TEST_CALLS"; echo "done $KTAP_TEST_HOST"; ${after}`];
  }

  /** ktap with these arguments, ssh reaching the test servers (stdin a pipe for the REPL). */
  run(args: string[]): Run {
    const child = spawn(process.execPath, [ktap, ...args], { cwd: root, stdio: [args.includes('-i') ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: { ...process.env, KTAP_SSH_COMMAND: this.sshCommand } });
    const run: Run = {
      stdout: '',
      stderr: '',
      exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
      signal: (name) => child.kill(name),
      line: (text) => child.stdin!.write(text + '\n'),
      end: () => child.stdin!.end(),
    };
    child.stdout!.on('data', (chunk: Buffer) => (run.stdout += chunk.toString('latin1')));
    child.stderr!.on('data', (chunk: Buffer) => (run.stderr += chunk.toString('latin1')));
    return run;
  }

  /** Runs a shell command on a host over ssh (with the host's SetEnv); resolves with its exit status. */
  onHost(index: number, command: string): Promise<number | null> {
    const server = this.servers[index]!;
    const child = spawn('/bin/sh', ['-c', `${this.sshCommand} -p ${server.port} root@${server.address} "$0"`, command], { stdio: 'ignore' });
    return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  /** The ktap agents running under one test server. */
  agentsOf(index: number): number[] {
    return descendants(this.servers[index]!.process.pid!, '--agent');
  }
}
