// What the server counts for Prometheus (prom-client): requests by route
// template and status, wire bytes, upload durations, the latency of every
// metadata and blob-store call, open upload sessions and storage used.
// Labels are templates and small enumerations only (never a repository
// name or a digest), so the number of series stays bounded.
// Served by metrics-listener.ts, on its own address.
import type { FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import cluster from 'node:cluster';
import { routeTemplate } from './route-label.js';

const PREFIX = 'hatoba_';
/** The database gauges are full counts: one scrape every few seconds must not mean one scan each. */
const OPEN_UPLOADS_CACHE_MS = 10_000;
const STORAGE_USED_CACHE_MS = 60_000;

export interface MetricsSources {
  openUploads(): Promise<number>;
  storedBytes(): Promise<number>;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly requestSeconds: Histogram<'method' | 'route'>;
  private readonly received: Counter<'route'>;
  private readonly sent: Counter<'route'>;
  private readonly uploadSeconds: Histogram;
  private readonly dbSeconds: Histogram<'operation'>;
  private readonly storageSeconds: Histogram<'operation'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.requests = new Counter({ name: `${PREFIX}http_requests_total`, help: 'HTTP requests answered, by method, route template and status code', labelNames: ['method', 'route', 'status'], registers });
    this.requestSeconds = new Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'Time from the request headers to the end of the response, by method and route template',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300],
      registers,
    });
    this.received = new Counter({ name: `${PREFIX}http_received_bytes_total`, help: 'Bytes read from clients (headers and bodies, as on the wire), by route template', labelNames: ['route'], registers });
    this.sent = new Counter({ name: `${PREFIX}http_sent_bytes_total`, help: 'Bytes written to clients (headers and bodies, as on the wire), by route template', labelNames: ['route'], registers });
    this.uploadSeconds = new Histogram({
      name: `${PREFIX}upload_duration_seconds`,
      help: 'Completed blob uploads: time from the upload session start (or the monolithic request) to the verified commit',
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 10800],
      registers,
    });
    this.dbSeconds = new Histogram({
      name: `${PREFIX}db_operation_duration_seconds`,
      help: 'Metadata store calls (one or a few queries each), by operation',
      labelNames: ['operation'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.storageSeconds = new Histogram({
      name: `${PREFIX}storage_operation_duration_seconds`,
      help: 'Blob store calls, by operation (append lasts as long as the client takes to send the chunk)',
      labelNames: ['operation'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300],
      registers,
    });
    const openUploads = cached(sources.openUploads, OPEN_UPLOADS_CACHE_MS);
    const storedBytes = cached(sources.storedBytes, STORAGE_USED_CACHE_MS);
    // Every worker reads the same database: across workers, the value is the same, not a sum.
    new Gauge({
      name: `${PREFIX}upload_sessions_open`,
      help: 'Upload sessions started and not yet completed, cancelled or expired (all nodes on this database)',
      aggregator: 'max',
      registers,
      async collect() {
        this.set(await openUploads());
      },
    });
    new Gauge({
      name: `${PREFIX}storage_used_bytes`,
      help: 'Bytes of all blobs in the registry, each counted once (from the database; refreshed every minute)',
      aggregator: 'max',
      registers,
      async collect() {
        this.set(await storedBytes());
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    // A worker answers its primary's request for its series (metrics-listener.ts aggregates them).
    if (cluster.isWorker) {
      new AggregatorRegistry();
      AggregatorRegistry.setRegistries([this.registry]);
    }
  }

  /** Counts every response by route template and status, and the bytes its connection carried. */
  observeRequests(app: FastifyInstance): void {
    // Bytes are counted per connection, as the difference since the last
    // response on it: exact in total, whatever keep-alive and pipelining do.
    const counted = new WeakMap<Socket, { read: number; written: number }>();
    app.addHook('onResponse', async (req, reply) => {
      const route = routeTemplate(req);
      this.requests.inc({ method: req.method, route, status: reply.statusCode });
      this.requestSeconds.observe({ method: req.method, route }, reply.elapsedTime / 1000);
      const socket = req.raw.socket as Socket | null;
      if (!socket) return;
      const before = counted.get(socket) ?? { read: 0, written: 0 };
      const read = socket.bytesRead;
      const written = socket.bytesWritten;
      if (read > before.read) this.received.inc({ route }, read - before.read);
      if (written > before.written) this.sent.inc({ route }, written - before.written);
      counted.set(socket, { read, written });
    });
  }

  /** For Registry's onUploadComplete. */
  readonly uploadCompleted = (seconds: number): void => this.uploadSeconds.observe(seconds);

  /** The metadata store, each call timed under its method name. */
  timeMetadata<T extends object>(meta: T): T {
    return timed(meta, (operation, seconds) => this.dbSeconds.observe({ operation }, seconds));
  }

  /** The blob store, each call timed under its method name. */
  timeBlobStore<T extends object>(store: T): T {
    return timed(store, (operation, seconds) => this.storageSeconds.observe({ operation }, seconds), NOT_TIMED_STORE_CALLS);
  }

  /** This process's series, in the text format. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Store calls that are not storage operations (setup, teardown, the health probe). */
const NOT_TIMED_STORE_CALLS = new Set(['init', 'close', 'ready']);

/**
 * A view of `target` whose methods report how long each call took (until
 * its promise settles); every other property, including ones added to the
 * interface later, passes through untouched. Wrappers are made once per
 * method, so a call costs a map lookup and two clock reads.
 */
function timed<T extends object>(target: T, observe: (operation: string, seconds: number) => void, skip: ReadonlySet<string> = new Set(['close'])): T {
  const wrappers = new Map<string | symbol, unknown>();
  return new Proxy(target, {
    get(obj, prop) {
      const value: unknown = Reflect.get(obj, prop, obj);
      if (typeof value !== 'function') return value;
      let wrapper = wrappers.get(prop);
      if (wrapper === undefined) {
        const fn = value as (...args: unknown[]) => unknown;
        const name = String(prop);
        wrapper =
          typeof prop === 'symbol' || skip.has(name)
            ? fn.bind(obj)
            : (...args: unknown[]) => {
                const start = performance.now();
                const done = () => observe(name, (performance.now() - start) / 1000);
                const result = fn.apply(obj, args);
                if (result instanceof Promise) result.then(done, done);
                else done();
                return result;
              };
        wrappers.set(prop, wrapper);
      }
      return wrapper;
    },
  });
}

/** `load`, called at most once per `ms` (a failed load is retried at the next scrape). */
function cached(load: () => Promise<number>, ms: number): () => Promise<number> {
  let last: { at: number; value: Promise<number> } | undefined;
  return () => {
    if (!last || Date.now() - last.at >= ms) {
      const value = load();
      last = { at: Date.now(), value };
      value.catch(() => (last = undefined));
    }
    return last.value;
  };
}
