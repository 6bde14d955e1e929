// The HTTP layer of the registry client: node:http / node:https with
// keep-alive agents, streaming request and response bodies, redirects for
// GET and HEAD (blob storage behind a CDN or S3) without leaking the
// Authorization header to another origin, and one transparent retry when a
// reused keep-alive socket turns out to be closed.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { RegistryConnectionError, safeUrl } from './registry-errors.js';

/** A body that can be sent again (after a 401 or a dead keep-alive socket). */
export interface ReplayableBody {
  /** Bytes the body will have (sent as Content-Length). */
  length: number;
  open(): Readable | Promise<Readable>;
}

export type RequestBody = Buffer | string | ReplayableBody | Readable;

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Follow 3xx for GET/HEAD (default true). */
  followRedirects?: boolean;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered (after redirects). */
  url: URL;
  body: IncomingMessage;
  header(name: string): string | undefined;
  /** Reads the whole body (up to `limit` bytes, else an error). */
  buffer(limit?: number): Promise<Buffer>;
  text(limit?: number): Promise<string>;
  /** Discards the body so the socket can be reused. */
  drain(): Promise<void>;
}

export interface RequestEvent {
  method: string;
  url: string;
  status?: number;
  error?: string;
  ms: number;
}

export interface TransportOptions {
  userAgent?: string;
  /** Socket idle timeout, ms (default 120 000). */
  timeoutMs?: number;
  /** Connections per origin (default 32). */
  maxSockets?: number;
  tls?: { rejectUnauthorized?: boolean; ca?: string | Buffer | (string | Buffer)[]; cert?: string | Buffer; key?: string | Buffer };
  /** Observer of every HTTP exchange (tests, --debug). */
  onRequest?: (event: RequestEvent) => void;
}

const MAX_REDIRECTS = 5;
const DEFAULT_TEXT_LIMIT = 1024 * 1024;

export class HttpTransport {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly timeoutMs: number;

  constructor(readonly options: TransportOptions = {}) {
    const maxSockets = options.maxSockets ?? 32;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets, scheduling: 'lifo' });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets, scheduling: 'lifo', ...options.tls });
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let headers = { ...req.headers };
    const follow = req.followRedirects ?? (req.method === 'GET' || req.method === 'HEAD');
    for (let hop = 0; ; hop++) {
      const res = await this.once(req.method, url, headers, req.body, req.signal);
      const location = res.header('location');
      if (!follow || ![301, 302, 303, 307, 308].includes(res.status) || !location || hop >= MAX_REDIRECTS) return res;
      await res.drain();
      const next = new URL(location, url);
      if (next.origin !== url.origin) {
        // Pre-signed storage URLs carry their own authorization.
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
      }
      url = next;
    }
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private async once(method: string, url: URL, headers: Record<string, string>, body: RequestBody | undefined, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const replayable = body === undefined || typeof body === 'string' || Buffer.isBuffer(body) || !(body instanceof Readable);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.exchange(method, url, headers, body, signal);
      } catch (err) {
        // A keep-alive socket the server had already closed: safe to resend once.
        if (attempt === 0 && replayable && err instanceof StaleSocketError) continue;
        if (err instanceof StaleSocketError) throw err.inner;
        throw err;
      }
    }
  }

  private async exchange(method: string, url: URL, headers: Record<string, string>, body: RequestBody | undefined, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const started = Date.now();
    const outHeaders: Record<string, string> = { 'user-agent': this.options.userAgent ?? 'hatoba-client', ...headers };
    let source: Readable | undefined;
    if (body === undefined) {
      if (method === 'POST' || method === 'PUT' || method === 'PATCH') outHeaders['content-length'] ??= '0';
    } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
      outHeaders['content-length'] = String(Buffer.byteLength(body));
    } else if (body instanceof Readable) {
      source = body;
    } else {
      outHeaders['content-length'] = String(body.length);
      source = await body.open();
    }
    const isHttps = url.protocol === 'https:';
    const mod = isHttps ? https : http;
    const event = (extra: Partial<RequestEvent>) => this.options.onRequest?.({ method, url: url.href, ms: Date.now() - started, ...extra });

    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      let bodyError: unknown;
      const request = mod.request(url, { method, headers: outHeaders, agent: isHttps ? this.httpsAgent : this.httpAgent, signal });
      request.setTimeout(this.timeoutMs, () => request.destroy(Object.assign(new Error(`no data for ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      request.on('response', (res) => {
        settled = true;
        event({ status: res.statusCode });
        // A registry may answer (401, 413, ...) before it has read the body: stop sending.
        if (source && !source.readableEnded) {
          source.unpipe(request);
          source.destroy();
        }
        resolve(wrapResponse(res, url));
      });
      request.on('error', (err: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        if (source && !source.destroyed) source.destroy();
        const cause = bodyError ?? err;
        event({ error: (cause as Error).message });
        if (bodyError !== undefined) return reject(bodyError);
        const wrapped = new RegistryConnectionError(url.href, `${method} ${safeUrl(url.href)}: ${err.message}`, err.code, { cause: err });
        if (request.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) return reject(new StaleSocketError(wrapped));
        reject(wrapped);
      });
      if (source) {
        source.once('error', (err) => {
          bodyError = err;
          request.destroy(err);
        });
        source.pipe(request);
      } else if (body === undefined) {
        request.end();
      } else {
        request.end(body as Buffer | string);
      }
    });
  }
}

class StaleSocketError extends Error {
  constructor(readonly inner: RegistryConnectionError) {
    super(inner.message);
  }
}

function wrapResponse(res: IncomingMessage, url: URL): HttpResponse {
  const header = (name: string) => {
    const v = res.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  const buffer = async (limit = DEFAULT_TEXT_LIMIT) => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        res.destroy();
        throw new RegistryConnectionError(url.href, `the response from ${safeUrl(url.href)} is larger than ${limit} bytes`, 'E2BIG');
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  };
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    url,
    body: res,
    header,
    buffer,
    text: async (limit) => (await buffer(limit)).toString('utf8'),
    drain: async () => {
      if (res.readableEnded || res.destroyed) return;
      // Small bodies are read so the socket stays usable; big ones are cut.
      const length = Number(res.headers['content-length'] ?? 0);
      if (length > 64 * 1024) {
        res.destroy();
        return;
      }
      try {
        for await (const _ of res) {
          // discard
        }
      } catch {
        // the connection closed: nothing left to drain
      }
    },
  };
}
