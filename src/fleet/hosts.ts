// The hosts of a fleet: `--hosts H1,H2,…` and `--hosts-file FILE` (one `[user@]host[:port]`
// a line, `#` comments) parsed into labels and ssh destinations.

import { UserError } from '../errors';

export interface HostSpec {
  /** As written in --hosts (or the file): what host() returns there and what output lines carry. */
  readonly label: string;
  readonly user?: string;
  /** Host name or address (an IPv6 address without its brackets). */
  readonly host: string;
  readonly port?: number;
}

/** A host written wrongly: the message says which and why. */
export class HostSpecError extends UserError {
  constructor(message: string) {
    super(message, 'usage');
  }
}

/** `[user@]host[:port]`, with `[v6address]` for IPv6. */
export function parseHost(text: string): HostSpec {
  const label = text.trim();
  const match = /^(?:([^@\s:/]+)@)?(?:\[([0-9A-Fa-f:.]+)\]|([^@\s:/[\]]+))(?::([0-9]+))?$/.exec(label);
  if (match === null) throw new HostSpecError(`'${label}' is not [user@]host[:port]`);
  const [, user, v6, name, portText] = match;
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (port < 1 || port > 65535)) throw new HostSpecError(`'${label}': port ${portText} is out of range`);
  if ((name ?? v6)!.startsWith('-')) throw new HostSpecError(`'${label}': a host name cannot start with '-'`);
  return { label, host: (v6 ?? name)!, ...(user === undefined ? {} : { user }), ...(port === undefined ? {} : { port }) };
}

/** The hosts of `--hosts a,b,c`. */
export function parseHostList(list: string): HostSpec[] {
  const words = list.split(',').map((word) => word.trim());
  if (words.some((word) => word.length === 0)) throw new HostSpecError(`--hosts '${list}' has an empty host`);
  return unique(words.map(parseHost));
}

/** The hosts of a hosts file: one a line; blank lines and `#` comments are skipped. */
export function parseHostsFile(text: string, path: string): HostSpec[] {
  const hosts: HostSpec[] = [];
  text.split('\n').forEach((line, index) => {
    const content = line.replace(/#.*/, '').trim();
    if (content.length === 0) return;
    try {
      hosts.push(parseHost(content));
    } catch (error) {
      throw new HostSpecError(`${path}:${index + 1}: ${(error as Error).message}`);
    }
  });
  if (hosts.length === 0) throw new HostSpecError(`${path} lists no hosts`);
  return unique(hosts);
}

function unique(hosts: HostSpec[]): HostSpec[] {
  const seen = new Set<string>();
  for (const host of hosts) {
    if (seen.has(host.label)) throw new HostSpecError(`host '${host.label}' is listed twice`);
    seen.add(host.label);
  }
  return hosts;
}
