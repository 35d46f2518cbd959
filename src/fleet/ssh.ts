// How the coordinator reaches a host: the system ssh client (or KTAP_SSH_COMMAND, as git's
// GIT_SSH_COMMAND), and the remote command that runs the agent from ktap's own bundle,
// cached on the host by content hash, or from an installed ktap (--remote-ktap).

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors';
import type { HostSpec } from './hosts';
import { NEED_BUNDLE_LINE } from './protocol';

/** ktap's one-file bundle, as shipped to hosts that do not have it yet. */
export interface Bundle {
  readonly bytes: Buffer;
  /** The first 16 hex digits of its SHA-256: its name in the host's cache. */
  readonly hash: string;
}

/** Where the agent comes from on the hosts. */
export type AgentSource = { readonly bundle: Bundle } | { readonly remoteKtap: string };

/** The bundle this process runs from (dist/ktap.js); from sources, the one the build wrote. */
export function localBundle(): Bundle {
  const path = __filename.endsWith('ktap.js') ? __filename : join(__dirname, '..', '..', 'dist', 'ktap.js');
  if (!existsSync(path)) throw new UserError(`cannot find ktap's bundle to ship to the hosts (${path}); run 'npm run build' or use --remote-ktap`, 'file');
  const bytes = readFileSync(path);
  return { bytes, hash: createHash('sha256').update(bytes).digest('hex').slice(0, 16) };
}

/**
 * The command the host's shell runs. With the bundle: use the cached copy, or say
 * NEED_BUNDLE_LINE and read exactly its bytes from stdin into the cache (checked by size
 * before it is moved in place, so a cut transfer never leaves a broken copy), then run it.
 */
export function remoteCommand(source: AgentSource): string {
  if ('remoteKtap' in source) return `exec ${source.remoteKtap} --agent`;
  const size = source.bundle.bytes.length;
  return [
    'd="${XDG_CACHE_HOME:-$HOME/.cache}/ktap"',
    `f="$d/ktap-${source.bundle.hash}.js"`,
    'command -v node >/dev/null 2>&1 || { echo "node is not installed (the ktap agent needs Node.js 20 or later)" >&2; exit 127; }',
    `if [ ! -s "$f" ]; then echo ${NEED_BUNDLE_LINE}; mkdir -p "$d" && head -c ${size} > "$f.$$" &&` +
      ` [ "$(wc -c < "$f.$$")" -eq ${size} ] && mv "$f.$$" "$f" || { rm -f "$f.$$"; echo "could not store ktap in $d" >&2; exit 1; }; fi`,
    'exec node "$f" --agent',
  ].join('; ');
}

/** ssh's options: never prompt (BatchMode), give up connecting after `connectTimeoutS`, notice a dead peer. */
export function sshArguments(host: HostSpec, connectTimeoutS: number, command: string): string[] {
  return [
    '-o', 'BatchMode=yes',
    '-o', `ConnectTimeout=${connectTimeoutS}`,
    '-o', 'ServerAliveInterval=5',
    '-o', 'ServerAliveCountMax=3',
    '-T',
    ...(host.port === undefined ? [] : ['-p', String(host.port)]),
    ...(host.user === undefined ? [] : ['-l', host.user]),
    host.host,
    command,
  ];
}

/**
 * Starts ssh in a process group of its own, so that the terminal's Ctrl-C reaches only the
 * coordinator, which then stops each agent in order. KTAP_SSH_COMMAND replaces `ssh` and is
 * run by the shell with the arguments after it, as git does with GIT_SSH_COMMAND.
 */
export function startSsh(args: readonly string[]): ChildProcess {
  const replacement = process.env.KTAP_SSH_COMMAND;
  const stdio: Array<'pipe'> = ['pipe', 'pipe', 'pipe'];
  if (replacement !== undefined && replacement.trim() !== '') {
    return spawn('/bin/sh', ['-c', `${replacement} "$@"`, 'ktap-ssh', ...args], { stdio, detached: true });
  }
  return spawn('ssh', args, { stdio, detached: true });
}
