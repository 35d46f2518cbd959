// The listening address of --metrics: `[ADDR:]PORT`, ADDR an IPv4 address, a host name or a
// bracketed IPv6 address; without ADDR every address of the machine (the exporters' custom).

export interface ListenAddress {
  /** undefined: every address (IPv6 and IPv4). */
  readonly host: string | undefined;
  /** 0 lets the kernel pick a free port. */
  readonly port: number;
}

/** Parses `[ADDR:]PORT`; a string saying what is wrong when it is not one. */
export function parseListenAddress(text: string): ListenAddress | string {
  const match = /^(?:(\[[^\]]*\]|[^:]*):)?([0-9]+)$/.exec(text);
  if (match === null) {
    return text.split(':').length > 2 && !text.startsWith('[') ? 'an IPv6 address goes in brackets, as in [::1]:9100' : 'expected [ADDR:]PORT, as in 9100 or 127.0.0.1:9100';
  }
  const port = Number(match[2]);
  if (port > 65535) return `port ${match[2]} is out of range (0-65535)`;
  const host = match[1] === undefined || match[1] === '' ? undefined : match[1].replace(/^\[(.*)\]$/, '$1');
  if (host === '') return 'the address between the brackets is empty';
  return { host, port };
}

/** `ADDR:PORT` as a URL authority: IPv6 addresses in brackets. */
export function formatAuthority(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
