// What load balancers and orchestrators ask, without credentials:
//   GET /healthz  the process is alive and its event loop answers (no I/O at all)
//   GET /readyz   it can serve: the database and the blob store answer, and
//                 it is not shutting down.
// Both answer anyone, so they say nothing an outsider could use (no error
// text, versions or paths: those go to the log) and cost little under a
// flood: /healthz touches nothing, /readyz checks at most once a second
// however many ask, and every check has a deadline.
import type { FastifyInstance, FastifyReply } from 'fastify';

/** A dependency the server needs; resolves when it answers, rejects when it does not. */
export type ReadinessCheck = () => Promise<void>;

export interface HealthOptions {
  checks: Record<string, ReadinessCheck>;
  /** True once the server has begun to shut down: not ready, whatever the checks say. */
  draining: () => boolean;
  log: { warn(o: object, m: string): void };
}

/** A check that has not answered by then counts as failed. */
export const CHECK_TIMEOUT_MS = 2000;
/** How long one round of checks answers every /readyz. */
export const READINESS_CACHE_MS = 1000;

type CheckResult = 'ok' | 'failed' | 'timeout';
interface Readiness {
  ready: boolean;
  checks: Record<string, CheckResult>;
}

export function healthRoutes(app: FastifyInstance, options: HealthOptions): void {
  const readiness = cachedReadiness(options);

  app.get('/healthz', async (_req, reply) => noStore(reply).type('text/plain; charset=utf-8').send('ok'));

  app.get('/readyz', async (_req, reply) => {
    noStore(reply);
    if (options.draining()) return reply.code(503).send({ status: 'draining', checks: {} });
    const result = await readiness();
    return reply.code(result.ready ? 200 : 503).send({ status: result.ready ? 'ready' : 'unavailable', checks: result.checks });
  });
}

/** Runs the checks at most once per READINESS_CACHE_MS; callers in between share the last (or running) round. */
export function cachedReadiness(options: Pick<HealthOptions, 'checks' | 'log'>, now: () => number = Date.now): () => Promise<Readiness> {
  let last: { at: number; result: Promise<Readiness> } | undefined;
  return () => {
    if (!last || now() - last.at >= READINESS_CACHE_MS) last = { at: now(), result: runChecks(options) };
    return last.result;
  };
}

async function runChecks({ checks, log }: Pick<HealthOptions, 'checks' | 'log'>): Promise<Readiness> {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => withDeadline(checks[name]!, CHECK_TIMEOUT_MS)));
  const out: Record<string, CheckResult> = {};
  results.forEach((r, i) => {
    out[names[i]!] = r.result;
    if (r.result !== 'ok') log.warn({ check: names[i], err: r.err }, 'readiness check failed');
  });
  return { ready: results.every((r) => r.result === 'ok'), checks: out };
}

async function withDeadline(check: ReadinessCheck, ms: number): Promise<{ result: CheckResult; err?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<{ result: CheckResult }>((resolve) => {
    timer = setTimeout(() => resolve({ result: 'timeout' }), ms);
  });
  try {
    return await Promise.race([
      check().then(
        () => ({ result: 'ok' as const }),
        (err: unknown) => ({ result: 'failed' as const, err }),
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function noStore(reply: FastifyReply): FastifyReply {
  // A proxy in between must not answer a later probe with this one.
  return reply.header('Cache-Control', 'no-store');
}
