// Shared helpers for the access-control integration tests (not a test file):
// raw HTTP with a chosen source address, the /api/v1 calls an admin makes,
// the token endpoint, and reading a JWT's payload.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { basicAuth, sha256, TestRegistry, type Credentials } from '../helpers/registry-client.js';
import { ADMIN } from '../helpers/server.js';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = any>(): T;
}

export interface CallOptions {
  /** an Authorization header value, or credentials for Basic; null sends none */
  auth?: string | Credentials | null;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** source address (any of 127.0.0.0/8), so failed sign-ins do not throttle 127.0.0.1 */
  from?: string;
}

export function authHeader(auth: string | Credentials | null | undefined): string | undefined {
  if (auth === null || auth === undefined) return undefined;
  return typeof auth === 'string' ? auth : basicAuth(auth);
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

/** One HTTP request to the server, with the path exactly as given. */
export function call(baseUrl: string, method: string, path: string, options: CallOptions = {}): Promise<HttpResult> {
  const { hostname, port } = new URL(baseUrl);
  const headers: Record<string, string> = { ...options.headers };
  const auth = authHeader(options.auth === undefined ? ADMIN : options.auth);
  if (auth) headers.authorization = auth;
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers, localAddress: options.from }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          text,
          json: () => JSON.parse(text),
        });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Asserts an OCI error envelope with this status and first code; returns the entries. */
export function expectErr(res: HttpResult, status: number, code: string, label = ''): { code: string; message: string; detail?: unknown }[] {
  assert.equal(res.status, status, `${label}: expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.match(String(res.headers['content-type'] ?? ''), /^application\/json/, label);
  const body = res.json<{ errors: { code: string; message: string }[] }>();
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `${label}: no errors in ${res.text}`);
  assert.equal(body.errors[0]!.code, code, `${label}: expected ${code} in ${res.text}`);
  return body.errors;
}

export function jwtPayload(token: string): Record<string, any> {
  const parts = token.split('.');
  assert.equal(parts.length, 3, `not a JWT: ${token.slice(0, 40)}`);
  return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
}

export function jwtHeader(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'));
}

export function uniq(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

let nextAddress = 10;
/** A fresh loopback source address for requests that are meant to fail sign-in. */
export function freshAddress(): string {
  nextAddress += 1;
  if (nextAddress > 250) throw new Error('out of loopback addresses');
  return `127.0.0.${nextAddress}`;
}

/** A registry client that sends this Authorization header (or none). */
export class AuthRegistry extends TestRegistry {
  constructor(
    url: string,
    readonly authorization: string | null,
  ) {
    super(url, null);
  }

  override request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.authorization && !headers.has('authorization')) headers.set('authorization', this.authorization);
    return fetch(`${this.url}${path}`, { redirect: 'manual', ...init, headers });
  }
}

/** The management API, as the admin (or anyone) calls it. */
export class Api {
  constructor(
    readonly url: string,
    readonly auth: string | Credentials | null = ADMIN,
  ) {}

  as(auth: string | Credentials | null): Api {
    return new Api(this.url, auth);
  }

  call(method: string, path: string, body?: unknown, from?: string): Promise<HttpResult> {
    return call(this.url, method, path, {
      auth: this.auth,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      from,
    });
  }

  async ok<T = any>(method: string, path: string, body?: unknown, status?: number): Promise<T> {
    const res = await this.call(method, path, body);
    if (status !== undefined) assert.equal(res.status, status, `${method} ${path}: ${res.status} ${res.text}`);
    else assert.ok(res.status >= 200 && res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
    return (res.text ? res.json() : undefined) as T;
  }

  /** Creates a user; returns their password credentials. */
  async user(username: string, password = `${username}-Pa55word`): Promise<Credentials> {
    await this.ok('POST', '/api/v1/users', { username, password }, 201);
    return { username, password };
  }

  /** Creates a personal auth token (default scopes unless given); returns it as credentials (and its id). */
  async token(username: string, name = uniq('tok-'), scopes?: string[]): Promise<Credentials & { id: string; secret: string }> {
    const t = await this.ok<{ id: string; secret: string }>('POST', `/api/v1/users/${encodeURIComponent(username)}/tokens`, { name, ...(scopes ? { scopes } : {}) }, 201);
    return { username, password: t.secret, id: t.id, secret: t.secret };
  }

  bind(namespace: string, role: string, subject: { kind: 'user' | 'group' | 'robot'; name: string }, name = uniq('rb-')): Promise<unknown> {
    return this.ok('POST', '/api/v1/rolebindings', { name, namespace, role, subject }, 201);
  }

  project(name: string, isPublic = false): Promise<unknown> {
    return this.ok('POST', '/api/v1/projects', { name, public: isPublic }, 201);
  }
}

export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
  scope?: string;
}

/** GET /v2/token with these scopes (and Basic credentials, unless null). */
export function tokenUrl(scopes: string[], extra: Record<string, string> = {}): string {
  const q = new URLSearchParams({ service: 'hatoba', ...extra });
  for (const s of scopes) q.append('scope', s);
  return `/v2/token?${q}`;
}

export async function getToken(baseUrl: string, creds: Credentials | null, scopes: string[], extra: Record<string, string> = {}): Promise<TokenResponse> {
  const res = await call(baseUrl, 'GET', tokenUrl(scopes, extra), { auth: creds });
  assert.equal(res.status, 200, `GET /v2/token as ${creds?.username ?? 'anonymous'} ${scopes.join(' ')}: ${res.status} ${res.text}`);
  return res.json<TokenResponse>();
}

/** The actions a token grants on one repository ([] if it is not listed). */
export function actionsFor(token: string, repository: string): string[] {
  const access = (jwtPayload(token).access ?? []) as { type: string; name: string; actions: string[] }[];
  return access.find((a) => a.type === 'repository' && a.name === repository)?.actions ?? [];
}

export function formBody(fields: Record<string, string | string[]>): string {
  const f = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) f.append(k, x);
  return f.toString();
}

export function postToken(baseUrl: string, fields: Record<string, string | string[]>, from?: string): Promise<HttpResult> {
  return call(baseUrl, 'POST', '/v2/token', { auth: null, body: formBody(fields), headers: { 'content-type': 'application/x-www-form-urlencoded' }, from });
}

export { sha256 };
