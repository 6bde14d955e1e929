// `metrics_listen`: /metrics on an address of its own, without
// authentication, as Prometheus scrapes it and as CNCF distribution (its
// debug address) and Harbor (its metrics port) serve it. Off unless set;
// meant for loopback or a private network, never the registry's public
// address. With --workers N the primary serves it and sums the workers'
// series (prom-client's AggregatorRegistry over node:cluster), so one scrape
// sees the whole process group.
import { createServer, type Server } from 'node:http';
import { AggregatorRegistry } from 'prom-client';

export type MetricsText = () => Promise<{ contentType: string; body: string }>;

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

/** Scrapes are small and rare: a few connections, quick deadlines. */
const MAX_CONNECTIONS = 16;
const REQUEST_TIMEOUT_MS = 10_000;

export async function listenForMetrics(address: { host: string; port: number }, text: MetricsText, log: (line: string) => void): Promise<MetricsListener> {
  const server: Server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('only /metrics is served here\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('use GET\n');
      return;
    }
    text().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        log(`could not collect the metrics: ${(err as Error).message}`);
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('could not collect the metrics\n');
      },
    );
  });
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    let listening = false;
    server.on('error', (err) => {
      if (listening) log(`metrics listener: ${err.message}`);
      else reject(new Error(`cannot listen on metrics_listen ${address.host}:${address.port}: ${err.message}`, { cause: err }));
    });
    server.listen(address.port, address.host, () => {
      listening = true;
      resolve();
    });
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : address.port;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** In the primary of --workers N: every worker's series, summed (gauges read from the database: their maximum). */
export function clusterMetricsText(): MetricsText {
  const aggregator = new AggregatorRegistry();
  return async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() });
}
