// Builds the HTTP server: the OCI distribution API, health endpoints and
// the error mapping, over a registry on the configured storage.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { ServerConfig } from '../config/config.js';
import { openDatabase } from '../db/connect.js';
import { Metadata } from '../db/metadata.js';
import { Registry } from '../registry/registry.js';
import { openBlobStore } from '../storage/open-blob-store.js';
import { Identity } from '../auth/identity.js';
import { loadMasterKey } from '../auth/master-key.js';
import { INITIAL_ADMIN, removeInitialAdminPassword, writeInitialAdminPassword } from '../auth/initial-admin-password.js';
import { AccessGuard } from './access.js';
import { distributionRoutes } from './distribution.js';
import { tokenRoutes } from './token.js';
import { apiRoutes } from './api.js';
import { loadTls, reloadTlsOnSighup } from './tls.js';
import { http2Options, widenSessionWindows } from './http2.js';
import type { Server as TlsServer } from 'node:tls';
import { installErrorHandlers } from './errors.js';
import { earlyErrorOptions } from './client-errors.js';
import { applyLimits, serverOptions } from './limits.js';
import { healthRoutes } from './health.js';
import { Shutdown } from './shutdown.js';
import { ServerMetrics } from './metrics.js';
import { listenForMetrics, type MetricsListener } from './metrics-listener.js';
import { isWorker } from './workers.js';

export interface HatobaServer {
  app: FastifyInstance;
  registry: Registry;
  identity: Identity;
  /** Set on the very first start when the admin password was generated: show it once. */
  createdAdminPassword?: string;
  /** Where metrics_listen serves /metrics, once listening (not in a worker: its primary serves them). */
  metricsUrl?: string;
  /** Listens on the configured address; returns the base URL. */
  listen(): Promise<string>;
  /** Drains (see shutdown.ts: in-flight requests get shutdown_grace_seconds), then closes the stores. */
  close(): Promise<void>;
}

/** An HTTP/1.1 connection or HTTP/2 session with no request for this long is closed. */
const IDLE_CONNECTION_MS = 75_000;

export async function createServer(config: ServerConfig): Promise<HatobaServer> {
  // Checked before anything is created: a bad certificate stops the start.
  const tls = config.tls ? loadTls(config.tls) : undefined;
  const store = await openBlobStore(config.storage, config.dataDir);
  const meta = new Metadata(await openDatabase(config.db));
  const metrics = new ServerMetrics({ openUploads: () => meta.openUploadCount(), storedBytes: () => meta.storedBlobBytes() });
  const registry = new Registry(metrics.timeMetadata(meta), metrics.timeBlobStore(store), {
    manifestMaxBytes: config.manifestMaxBytes,
    maxUploadSessionsPerOwner: config.maxUploadSessionsPerPrincipal,
    onUploadComplete: metrics.uploadCompleted,
  });

  const app = Fastify({
    ...earlyErrorOptions,
    logger: { level: config.logLevel },
    // One line per request is written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    // Idle limits, not a total one: blob uploads can take a long time.
    ...serverOptions(config),
    keepAliveTimeout: IDLE_CONNECTION_MS,
    // Paths carry repository names with slashes and long digests.
    routerOptions: { maxParamLength: 1024 },
    return503OnClosing: true,
    // Typed as the plain HTTP server: the routes see the same requests either way.
    ...(tls ? ({ https: config.http2 ? { ...tls, ...http2Options() } : tls, http2: config.http2, http2SessionTimeout: IDLE_CONNECTION_MS } as object) : {}),
    // req.ip (the address the audit log and the sign-in throttle use),
    // req.protocol and req.host follow X-Forwarded-* only from these peers.
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
  });
  // First: it follows every route added after it.
  const shutdown = new Shutdown(app);
  if (tls && config.http2) widenSessionWindows(app.server);
  const stopTlsReload = config.tls ? reloadTlsOnSighup(app.server as unknown as TlsServer, config.tls, app.log) : undefined;
  // Bodies are streamed by the handlers themselves (blobs) or read with a
  // limit (manifests): no parser may buffer them first.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  installErrorHandlers(app);
  applyLimits(app, config);
  metrics.observeRequests(app);
  app.addHook('onResponse', async (req, reply) => {
    req.log.info({ method: req.method, url: req.url, http: req.raw.httpVersion, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  const { identity, createdAdminPassword } = await Identity.open(meta.db, {
    masterKey: await loadMasterKey(config.dataDir, config.masterKey, meta.db),
    service: config.tokenService,
    adminPassword: config.adminPassword,
    log: app.log,
    onPasswordChanged: (username) => username === INITIAL_ADMIN && removeInitialAdminPassword(config.dataDir),
  });
  if (createdAdminPassword) writeInitialAdminPassword(config.dataDir, createdAdminPassword);
  const guard = new AccessGuard(identity, config.tokenService, config.publicUrl);
  tokenRoutes(app, guard);
  distributionRoutes(app, registry, guard);
  apiRoutes(app, guard, { allowedOrigins: config.apiAllowedOrigins });
  healthRoutes(app, {
    checks: {
      database: async () => void (await sql`select 1`.execute(meta.db)),
      storage: async () => store.ready?.(),
    },
    draining: () => shutdown.draining,
    log: app.log,
  });

  const purge = async () => {
    try {
      const n = await registry.uploads.purgeIdle(config.uploadIdleTimeoutMs);
      if (n > 0) app.log.info({ uploads: n }, 'discarded idle upload sessions');
    } catch (err) {
      app.log.warn({ err }, 'could not purge idle uploads');
    }
    try {
      const n = await identity.store.pruneAudit(Date.now() - config.auditRetentionDays * 86_400_000);
      if (n > 0) app.log.info({ rows: n }, 'pruned audit rows past the retention');
    } catch (err) {
      app.log.warn({ err }, 'could not prune the audit log');
    }
  };
  const purgeTimer = setInterval(purge, Math.min(config.uploadIdleTimeoutMs, 3600_000));
  purgeTimer.unref();

  let metricsListener: MetricsListener | undefined;
  return {
    app,
    registry,
    identity,
    createdAdminPassword,
    get metricsUrl() {
      return metricsListener?.url;
    },
    async listen() {
      await app.listen({ host: config.host, port: config.port });
      if (config.metricsListen && !isWorker()) {
        metricsListener = await listenForMetrics(config.metricsListen, () => metrics.text(), (line) => app.log.warn(line));
      }
      void purge();
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      return `${tls ? 'https' : 'http'}://${host}:${port}`;
    },
    async close() {
      clearInterval(purgeTimer);
      stopTlsReload?.();
      const { cut } = await shutdown.drain(config.shutdownGraceMs);
      if (cut > 0) app.log.warn({ connections: cut }, 'shutdown grace over: cut the requests still running');
      await metricsListener?.close();
      await registry.close();
    },
  };
}
