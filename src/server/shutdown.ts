// Graceful shutdown (SIGTERM, SIGINT): stop accepting connections, let the
// requests in flight finish (an upload in progress completes), close
// keep-alive connections as they fall idle, and after the grace cut what is
// still running. A request cut this way fails like a dropped connection: an
// upload rolls its staged bytes back to the offset its session row holds,
// so the client resumes it on another node or after the restart.
import type { FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';

/** After the cut, how long handlers get to roll back (truncate a staged file, answer) before the stores close. */
const SETTLE_AFTER_CUT_MS = 5000;

export class Shutdown {
  private state: 'serving' | 'draining' = 'serving';
  /** Handlers of writes still running (a response can be gone while its handler still rolls back). */
  private readonly handlers = new Set<Promise<unknown>>();
  private readonly sockets = new Set<Socket>();

  /** Call before any route is added: it follows every handler. */
  constructor(private readonly app: FastifyInstance) {
    app.addHook('onRoute', (route) => {
      const handler = route.handler;
      const handlers = this.handlers;
      route.handler = function (this: unknown, ...args: Parameters<typeof handler>) {
        const result: unknown = handler.apply(this as never, args);
        // Writes are followed (a cut upload rolls back, a commit finishes);
        // reads, the hot path, have nothing to finish (this costs about 0.5 µs a request).
        // The same promise goes back to fastify: nothing changes for the route.
        const method = args[0].method;
        if (result instanceof Promise && method !== 'GET' && method !== 'HEAD') {
          handlers.add(result);
          const forget = () => handlers.delete(result);
          result.then(forget, forget);
        }
        return result;
      } as typeof handler;
    });
    // Over HTTP/1.1 a keep-alive connection is closed after the response it
    // is busy with (HTTP/2 sessions get a GOAWAY from fastify's close).
    app.addHook('onSend', (req, reply, payload, done) => {
      if (this.state === 'draining' && req.raw.httpVersionMajor < 2) reply.header('Connection', 'close');
      done(null, payload);
    });
    // Every TCP connection, whatever protocol runs over it, to cut them at the end of the grace.
    app.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  get draining(): boolean {
    return this.state === 'draining';
  }

  /**
   * Stops accepting, waits for the requests in flight for up to `graceMs`,
   * then cuts the rest. Resolves when every handler is done (or, after a
   * cut, has had SETTLE_AFTER_CUT_MS to be); the caller then closes the stores.
   */
  async drain(graceMs: number): Promise<{ cut: number }> {
    this.state = 'draining';
    // fastify's close: the listening socket closes (new connections are
    // refused), idle keep-alive connections are closed, and a request that
    // still arrives on an open one is answered 503 (return503OnClosing).
    const closed = this.app.close();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace over'>((resolve) => (timer = setTimeout(() => resolve('grace over'), graceMs)));
    const first = await Promise.race([closed.then(() => 'closed' as const), graceOver]);
    clearTimeout(timer);
    let cut = 0;
    if (first === 'grace over') {
      cut = this.sockets.size;
      for (const socket of this.sockets) socket.destroy();
      await closed;
    }
    await settled([...this.handlers], first === 'grace over' ? SETTLE_AFTER_CUT_MS : graceMs);
    return { cut };
  }
}

async function settled(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(promises), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
