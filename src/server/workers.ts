// `hatoba serve --workers N`: N server processes on one port (node:cluster),
// sharing the data directory. The primary prepares what must happen once
// (schema migration, the first admin, the token signing key) before any
// worker starts, restarts workers that die, and stops them on SIGTERM.
// It also serves metrics_listen, for the whole group (metrics-listener.ts).
import cluster, { type Worker } from 'node:cluster';
import type { ServerConfig } from '../config/config.js';
import { clusterMetricsText, listenForMetrics, type MetricsListener } from './metrics-listener.js';

export interface WorkersHandle {
  url: string;
  createdAdminPassword?: string;
  metricsUrl?: string;
  /** Each worker drains (shutdown.ts) and exits; resolves when all have. */
  stop(): Promise<void>;
}

const RESTART_DELAY_MS = 1000;
/** A worker still there this long after its grace is over is killed. */
const KILL_AFTER_GRACE_MS = 15_000;

export async function startWorkers(config: ServerConfig, count: number, log: (line: string) => void): Promise<WorkersHandle> {
  const { createServer } = await import('./app.js');
  const once = await createServer(config);
  const createdAdminPassword = once.createdAdminPassword;
  await once.close();

  // Before any worker is forked, so that a busy address stops the start cleanly.
  const metrics: MetricsListener | undefined = config.metricsListen ? await listenForMetrics(config.metricsListen, clusterMetricsText(), log) : undefined;

  let stopping = false;
  const fork = () => cluster.fork({ HATOBA_WORKER: '1' });
  const url = await new Promise<string>((resolve, reject) => {
    let listening = 0;
    cluster.on('listening', (_worker: Worker, address) => {
      listening += 1;
      if (listening === count) {
        const host = config.host.includes(':') ? `[${config.host}]` : config.host;
        resolve(`${config.tls ? 'https' : 'http'}://${host}:${address.port}`);
      }
    });
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) return;
      if (listening < count) {
        reject(new Error(`worker ${worker.process.pid} exited (${signal ?? code}) before listening`));
        return;
      }
      log(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
      setTimeout(() => !stopping && fork(), RESTART_DELAY_MS).unref();
    });
    for (let i = 0; i < count; i++) fork();
  });
  // Each worker reloads its own certificate; the operator signals the primary.
  const forwardSighup = () => {
    for (const w of Object.values(cluster.workers ?? {})) if (w && !w.isDead()) w.process.kill('SIGHUP');
  };
  if (config.tls) process.on('SIGHUP', forwardSighup);

  return {
    url,
    createdAdminPassword,
    metricsUrl: metrics?.url,
    async stop() {
      stopping = true;
      process.off('SIGHUP', forwardSighup);
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              const kill = setTimeout(() => {
                log(`worker ${w.process.pid} still running ${KILL_AFTER_GRACE_MS / 1000} s after the shutdown grace; killing it`);
                w.process.kill('SIGKILL');
              }, config.shutdownGraceMs + KILL_AFTER_GRACE_MS);
              w.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              w.process.kill('SIGTERM');
            }),
        ),
      );
      await metrics?.close();
    },
  };
}

export function isWorker(): boolean {
  return cluster.isWorker;
}
