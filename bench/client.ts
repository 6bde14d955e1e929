// The benchmark's HTTP client: node:http with one fixed keep-alive Agent per
// registry. Every call states the status codes it accepts; anything else, a
// short body, a socket error or a digest mismatch throws BenchError.
import http from 'node:http';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export class BenchError extends Error {
  override name = 'BenchError';
}

export type Body = Buffer | string | Iterable<Buffer> | AsyncIterable<Buffer>;
export type Sink = 'buffer' | 'hash' | 'discard';

export interface RequestOptions {
  method: string;
  path: string; // absolute path (+query) or absolute URL on the same host
  headers?: Record<string, string | number>;
  body?: Body;
  expect: number | readonly number[];
  sink?: Sink; // default 'buffer' (capped at 64 MiB)
  timeoutMs?: number;
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer; // empty unless sink === 'buffer'
  bytes: number;
  digest?: string; // sha256 of the body when sink === 'hash'
}

const MAX_BUFFERED = 64 << 20;

/** Credentials for a registry that challenges (Hatoba); distribution runs without auth. */
export interface Credentials {
  username: string;
  password: string;
}

/** The scope a request needs under the Docker token protocol. */
export function scopeOf(path: string): string | undefined {
  const p = path.split('?', 1)[0]!;
  if (p === '/v2/_catalog') return 'registry:catalog:*';
  const m = /^\/v2\/(.+)\/(blobs\/uploads\/[^/]*|blobs\/[^/]+|manifests\/[^/]+|tags\/list)$/.exec(p);
  return m ? `repository:${m[1]}:pull,push` : undefined;
}

/**
 * Docker token protocol client: one token per scope (as docker/containerd
 * cache them), fetched from the realm with Basic credentials and reused
 * until shortly before it expires.
 */
export class TokenAuth {
  private readonly tokens = new Map<string, { token: string; until: number }>();
  private readonly pending = new Map<string, Promise<string>>();
  fetched = 0;

  constructor(readonly realm: string, readonly service: string, readonly creds: Credentials) {}

  invalidate(scope: string): void {
    this.tokens.delete(scope);
  }

  async header(http: HttpClient, path: string): Promise<string | undefined> {
    const scope = scopeOf(path) ?? '';
    const have = this.tokens.get(scope);
    if (have && have.until > Date.now()) return `Bearer ${have.token}`;
    let p = this.pending.get(scope);
    if (!p) {
      p = this.fetch(http, scope).finally(() => this.pending.delete(scope));
      this.pending.set(scope, p);
    }
    return `Bearer ${await p}`;
  }

  private async fetch(http: HttpClient, scope: string): Promise<string> {
    const q = new URLSearchParams({ service: this.service });
    if (scope) q.append('scope', scope);
    const basic = Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64');
    const res = await http.raw({ method: 'GET', path: `${http.resolve(this.realm)}${this.realm.includes('?') ? '&' : '?'}${q}`, headers: { Authorization: `Basic ${basic}` }, expect: 200 });
    this.fetched++;
    const doc = JSON.parse(res.body.toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
    const token = doc.token ?? doc.access_token;
    if (!token) throw new BenchError(`token endpoint ${this.realm}: no token in the answer`);
    const ttl = Math.max(30, doc.expires_in ?? 60);
    this.tokens.set(scope, { token, until: Date.now() + (ttl - 20) * 1000 });
    return token;
  }
}

/** Parses `WWW-Authenticate: Bearer realm="...",service="..."`. */
export function parseBearerChallenge(value: string | undefined): { realm: string; service: string } | undefined {
  if (!value || !/^bearer\s/i.test(value)) return undefined;
  const params: Record<string, string> = {};
  for (const m of value.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
  return params.realm ? { realm: params.realm, service: params.service ?? '' } : undefined;
}

export class HttpClient {
  readonly agent: http.Agent;
  readonly host: string;
  readonly port: number;
  requests = 0;
  auth?: TokenAuth;

  constructor(readonly baseUrl: string, maxSockets: number) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 10_000, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
  }

  close(): void {
    this.agent.destroy();
  }

  /** Turns a Location / Link target into a path on this server. */
  resolve(location: string, base = '/v2/'): string {
    const u = new URL(location, `http://${this.host}:${this.port}${base}`);
    if (u.port !== String(this.port) || (u.hostname !== this.host && u.hostname !== 'localhost')) {
      throw new BenchError(`location points to another host: ${location}`);
    }
    return u.pathname + u.search;
  }

  /** A request with a bearer token when the registry wants one (retried once on 401 when the body can be resent). */
  async request(opts: RequestOptions): Promise<Response> {
    if (!this.auth) return this.raw(opts);
    const path = opts.path.startsWith('http') ? this.resolve(opts.path) : opts.path;
    const authorization = await this.auth.header(this, path);
    const headers = { ...(opts.headers ?? {}), ...(authorization ? { Authorization: authorization } : {}) };
    const resendable = opts.body === undefined || typeof opts.body === 'string' || Buffer.isBuffer(opts.body);
    if (!resendable) return this.raw({ ...opts, path, headers });
    const expect = typeof opts.expect === 'number' ? [opts.expect] : [...opts.expect];
    const first = await this.raw({ ...opts, path, headers, expect: expect.includes(401) ? expect : [...expect, 401] });
    if (first.status !== 401 || expect.includes(401)) return first;
    this.auth.invalidate(scopeOf(path) ?? '');
    const again = await this.auth.header(this, path);
    return this.raw({ ...opts, path, headers: { ...headers, Authorization: again! } });
  }

  /** One HTTP exchange, no auth handling. */
  raw(opts: RequestOptions): Promise<Response> {
    this.requests++;
    const expect = typeof opts.expect === 'number' ? [opts.expect] : opts.expect;
    const sink = opts.sink ?? 'buffer';
    const path = opts.path.startsWith('http') ? this.resolve(opts.path) : opts.path;
    const headers: Record<string, string | number> = { ...(opts.headers ?? {}) };
    const body = opts.body;
    if (body === undefined && opts.method !== 'GET' && opts.method !== 'HEAD' && headers['Content-Length'] === undefined) {
      headers['Content-Length'] = 0;
    } else if ((typeof body === 'string' || Buffer.isBuffer(body)) && headers['Content-Length'] === undefined) {
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const what = `${opts.method} ${path}`;

    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        const msg = err instanceof Error ? err.message : String(err);
        reject(err instanceof BenchError ? err : new BenchError(`${what}: ${msg}`));
      };
      const req = http.request({ host: this.host, port: this.port, method: opts.method, path, headers, agent: this.agent });
      req.setTimeout(opts.timeoutMs ?? 60_000, () => req.destroy(new Error(`no progress for ${opts.timeoutMs ?? 60_000} ms`)));
      req.on('error', fail);
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const ok = expect.includes(status);
        const hash = ok && sink === 'hash' ? createHash('sha256') : undefined;
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (hash) hash.update(c);
          else if (!ok || sink === 'buffer') {
            if (bytes <= (ok ? MAX_BUFFERED : 8192)) chunks.push(c);
          }
        });
        res.on('error', fail);
        res.on('aborted', () => fail(new Error('response aborted')));
        res.on('end', () => {
          if (settled) return;
          if (!ok) {
            const text = Buffer.concat(chunks).toString('utf8').slice(0, 600).replace(/\s+/g, ' ');
            fail(new BenchError(`${what} -> ${status}, expected ${expect.join('/')}: ${text}`));
            return;
          }
          const cl = res.headers['content-length'];
          if (opts.method !== 'HEAD' && cl !== undefined && status !== 204 && status !== 304 && Number(cl) !== bytes) {
            fail(new BenchError(`${what} -> body ${bytes} bytes but Content-Length ${cl}`));
            return;
          }
          settled = true;
          resolve({
            status,
            headers: res.headers,
            body: sink === 'buffer' ? Buffer.concat(chunks) : Buffer.alloc(0),
            bytes,
            digest: hash ? `sha256:${hash.digest('hex')}` : undefined,
          });
        });
      });
      if (body === undefined) req.end();
      else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
      else {
        // Streamed body; an early error response may cut the upload short, in
        // which case the response handler above reports the status instead.
        pipeline(Readable.from(body as AsyncIterable<Buffer>, { objectMode: false }), req).catch((err) => {
          setTimeout(() => fail(err), 50);
        });
      }
    });
  }
}

export function header(res: Response, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export function requireHeader(res: Response, name: string, what: string): string {
  const v = header(res, name);
  if (v === undefined || v === '') throw new BenchError(`${what}: response has no ${name} header`);
  return v;
}

/** Parses `Link: <url>; rel="next"` and returns the url, if any. */
export function nextLink(res: Response): string | undefined {
  const raw = res.headers.link;
  if (raw === undefined) return undefined;
  for (const part of String(raw).split(/,(?=\s*<)/)) {
    const m = /<([^>]*)>\s*;\s*(.*)$/.exec(part.trim());
    if (m && /\brel="?next"?/i.test(m[2]!)) return m[1];
  }
  return undefined;
}
