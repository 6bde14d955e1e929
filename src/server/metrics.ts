// What the server counts for Prometheus (prom-client): requests by route
// template and status, wire bytes, upload durations, the latency of every
// metadata and blob-store call, open upload sessions and storage used.
// Labels are templates and small enumerations only (never a repository
// name or a digest), so the number of series stays bounded.
// Served by metrics-listener.ts, on its own address.
import type { FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import { LeanCounter, LeanHistogram, type CounterSeries, type HistogramSeries } from './lean-metrics.js';
import { routeTemplate } from './route-label.js';

const PREFIX = 'hatoba_';
/** The database gauges are full counts: one scrape every few seconds must not mean one scan each. */
const OPEN_UPLOADS_CACHE_MS = 10_000;
const STORAGE_USED_CACHE_MS = 60_000;

export interface MetricsSources {
  openUploads(): Promise<number>;
  storedBytes(): Promise<number>;
}

/** What one response adds to, by method, route and status: looked up once per response. */
interface ResponseSeries {
  requests: CounterSeries<'method' | 'route' | 'status'>;
  seconds: HistogramSeries<'method' | 'route'>;
}

/** A connection's byte counts already added to the totals. */
interface Counted {
  read: number;
  written: number;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: LeanCounter<'method' | 'route' | 'status'>;
  private readonly requestSeconds: LeanHistogram<'method' | 'route'>;
  private readonly received: Counter;
  private readonly sent: Counter;
  private readonly connections = new Map<Socket, Counted>();
  private readonly uploadSeconds: HistogramSeries<never>;
  private readonly dbSeconds: LeanHistogram<'operation'>;
  private readonly storageSeconds: LeanHistogram<'operation'>;
  /** route -> method -> status -> series: three lookups and no string built per response. */
  private readonly responseSeries = new Map<string, Map<string, Map<number, ResponseSeries>>>();

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    const r = this.registry;
    this.requests = new LeanCounter(`${PREFIX}http_requests_total`, 'HTTP requests answered, by method, route template and status code', ['method', 'route', 'status'], r);
    this.requestSeconds = new LeanHistogram(
      `${PREFIX}http_request_duration_seconds`,
      'Time from the request headers to the end of the response, by method and route template',
      ['method', 'route'],
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300],
      r,
    );
    // Counted per connection when it closes, and for open ones at each
    // scrape: nothing per request, and a multi-GiB upload on one connection
    // shows while it runs.
    const connections = this.connections;
    const account = (socket: Socket, counted: Counted) => this.account(socket, counted);
    const collect = () => {
      for (const [socket, counted] of connections) account(socket, counted);
    };
    this.received = new Counter({ name: `${PREFIX}http_received_bytes_total`, help: 'Bytes read from clients, as on the wire (TLS included)', registers, collect });
    this.sent = new Counter({ name: `${PREFIX}http_sent_bytes_total`, help: 'Bytes written to clients, as on the wire (TLS included)', registers, collect });
    this.uploadSeconds = new LeanHistogram<never>(
      `${PREFIX}upload_duration_seconds`,
      'Completed blob uploads: time from the upload session start (or the monolithic request) to the verified commit',
      [],
      [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 10800],
      r,
    ).series({});
    this.dbSeconds = new LeanHistogram(
      `${PREFIX}db_operation_duration_seconds`,
      'Metadata store calls (one or a few queries each), by operation',
      ['operation'],
      [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      r,
    );
    this.storageSeconds = new LeanHistogram(
      `${PREFIX}storage_operation_duration_seconds`,
      'Blob store calls, by operation (append lasts as long as the client takes to send the chunk)',
      ['operation'],
      [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300],
      r,
    );
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
    collectProcessMetrics(this.registry);
    // A worker answers its primary's request for its series (metrics-listener.ts aggregates them).
    if (cluster.isWorker) {
      new AggregatorRegistry();
      AggregatorRegistry.setRegistries([this.registry]);
    }
  }

  /** Counts every response by route template and status, and the bytes of every connection. */
  observeRequests(app: FastifyInstance): void {
    // A callback hook, not an async one: no promise per response.
    app.addHook('onResponse', (req, reply, done) => {
      const series = this.seriesFor(req.method, routeTemplate(req), reply.statusCode);
      series.requests.inc();
      series.seconds.observe(reply.elapsedTime / 1000);
      done();
    });
    app.server.on('connection', (socket: Socket) => {
      const counted: Counted = { read: 0, written: 0 };
      this.connections.set(socket, counted);
      socket.once('close', () => {
        this.account(socket, counted);
        this.connections.delete(socket);
      });
    });
  }

  private account(socket: Socket, counted: Counted): void {
    const read = socket.bytesRead;
    // undefined once the socket's write state is gone: nothing more was written.
    const written = socket.bytesWritten ?? counted.written;
    this.received.inc(read - counted.read);
    this.sent.inc(written - counted.written);
    counted.read = read;
    counted.written = written;
  }

  private seriesFor(method: string, route: string, status: number): ResponseSeries {
    let byMethod = this.responseSeries.get(route);
    if (byMethod === undefined) this.responseSeries.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
    let series = byStatus.get(status);
    if (series === undefined) {
      series = { requests: this.requests.series({ method, route, status }), seconds: this.requestSeconds.series({ method, route }) };
      byStatus.set(status, series);
    }
    return series;
  }

  /** For Registry's onUploadComplete. */
  readonly uploadCompleted = (seconds: number): void => this.uploadSeconds.observe(seconds);

  /** The metadata store, each call timed under its method name. */
  timeMetadata<T extends object>(meta: T): T {
    return timed(meta, (operation) => this.dbSeconds.series({ operation }));
  }

  /** The blob store, each call timed under its method name. */
  timeBlobStore<T extends object>(store: T): T {
    return timed(store, (operation) => this.storageSeconds.series({ operation }), NOT_TIMED_STORE_CALLS);
  }

  /** This process's series, in the text format. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * prom-client's default process metrics (CPU, memory, descriptors, heap,
 * event-loop lag), except `gc`: its PerformanceObserver runs on every
 * collection, which Hatoba's small young generation (--max-semi-space-size=2)
 * makes frequent; it added about 10 % CPU to allocation-heavy work here,
 * and most of the metrics' cost on a manifest GET.
 */
function collectProcessMetrics(registry: Registry): void {
  const load = createRequire(import.meta.url);
  for (const name of collectDefaultMetrics.metricsList) {
    if (name === 'gc') continue;
    const collector = load(`prom-client/lib/metrics/${name}`) as (r: Registry, c: object) => void;
    collector(registry, { prefix: PREFIX, eventLoopMonitoringPrecision: 10 });
  }
}

/** Store calls that are not storage operations (setup, teardown, the health probe). */
const NOT_TIMED_STORE_CALLS = new Set(['init', 'close', 'ready']);

/**
 * A view of `target` whose methods report how long each call took (until
 * its promise settles). It inherits from `target`, so fields, getters and
 * untimed methods read through unchanged, and it holds a timed wrapper of
 * every method found when it is made (a driver's extra methods included):
 * a call costs a plain property load and two clock reads, where a Proxy
 * would run a trap on every property access.
 */
function timed<T extends object>(target: T, seriesOf: (operation: string) => HistogramSeries<'operation'>, skip: ReadonlySet<string> = new Set(['close'])): T {
  const view = Object.create(target) as T;
  const seen = new Set<string>();
  for (let o: object | null = target; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) {
      const descriptor = Object.getOwnPropertyDescriptor(o, name)!;
      if (seen.has(name) || name === 'constructor' || typeof descriptor.value !== 'function') continue;
      seen.add(name);
      const fn = descriptor.value as (...args: unknown[]) => unknown;
      // Every method runs on the target itself, so its writes land there.
      if (skip.has(name)) {
        Object.defineProperty(view, name, { value: fn.bind(target) });
        continue;
      }
      let series: HistogramSeries<'operation'> | undefined; // made on the first call: no empty series for helpers nobody calls
      Object.defineProperty(view, name, {
        value: (...args: unknown[]) => {
          const start = performance.now();
          const done = () => (series ??= seriesOf(name)).observe((performance.now() - start) / 1000);
          const result = fn.apply(target, args);
          if (result instanceof Promise) result.then(done, done);
          else done();
          return result;
        },
      });
    }
  }
  return view;
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
