// The HTTP endpoint Prometheus scrapes (node:http): GET /metrics renders a scrape at that
// instant; a bind failure becomes one MetricsError line.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzip } from 'node:zlib';
import { UserError } from '../errors';
import { formatAuthority, type ListenAddress } from './address';
import { EXPOSITION_CONTENT_TYPE } from './exposition';

/** --metrics could not serve: the message says where and why. */
export class MetricsError extends UserError {
  constructor(message: string) {
    super(message, 'metrics');
  }
}

export interface MetricsServer {
  /** Where /metrics is served, e.g. http://127.0.0.1:9100/metrics. */
  readonly url: string;
  /** Stops listening and drops open connections (idle keep-alive ones included). */
  close(): void;
}

/** Why the kernel refused the address, in words. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use',
  EADDRNOTAVAIL: 'the address is not one of this machine',
  EACCES: 'permission denied',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved',
  EAFNOSUPPORT: 'address family not supported',
};

/** Listens on `address` and answers each GET /metrics with `scrape()`. */
export function serveMetrics(address: ListenAddress, scrape: () => string): Promise<MetricsServer> {
  const server = createServer((request, response) => answer(request, response, scrape));
  // A scraper that stalls is let go instead of holding a connection open for minutes.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = address.host === undefined ? `port ${address.port}` : formatAuthority(address.host, address.port);
      reject(new MetricsError(`--metrics: cannot listen on ${where}: ${LISTEN_ERRORS[error.code ?? ''] ?? error.message}`));
    });
    server.listen(address.port, address.host, () => resolve(handle(server)));
  });
}

function handle(server: Server): MetricsServer {
  const bound = server.address() as AddressInfo;
  return {
    url: `http://${formatAuthority(bound.address, bound.port)}/metrics`,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}

function answer(request: IncomingMessage, response: ServerResponse, scrape: () => string): void {
  const path = (request.url ?? '/').split('?')[0];
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
    return;
  }
  if (path !== '/metrics') {
    const found = path === '/';
    response.writeHead(found ? 200 : 404, { 'Content-Type': 'text/plain' }).end(found ? 'ktap: metrics are at /metrics\n' : 'not found; metrics are at /metrics\n');
    return;
  }
  const body = Buffer.from(scrape(), 'utf8');
  const send = (bytes: Buffer, encoding?: string): void => {
    response.writeHead(200, {
      'Content-Type': EXPOSITION_CONTENT_TYPE,
      'Content-Length': bytes.length,
      ...(encoding === undefined ? {} : { 'Content-Encoding': encoding }),
    });
    response.end(request.method === 'HEAD' ? undefined : bytes);
  };
  // Compressed in libuv's thread pool, not on the thread that runs the handlers.
  if (/\bgzip\b/.test(request.headers['accept-encoding'] ?? '')) {
    gzip(body, (error, compressed) => (error === null ? send(compressed, 'gzip') : send(body)));
  } else {
    send(body);
  }
}
