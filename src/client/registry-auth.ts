// Authentication against an OCI registry, the way docker and containerd do
// it: ask `GET /v2/` once to learn the scheme; for `Bearer` get a token from
// the realm (GET with Basic credentials, or the OAuth2 form POST with the
// password or refresh_token grant) for exactly the scopes a request needs,
// cache it per scope until shortly before it expires, and get a new one when
// the registry answers 401 (expired, or `error="insufficient_scope"`); for
// `Basic` send the credentials with every request.
import { type HttpResponse, type HttpTransport } from './registry-http.js';
import { RegistryApiError, RegistryClientError, parseErrorBody, type RequestContext } from './registry-errors.js';

export type RegistryCredentials =
  /** A password, a personal auth token or a robot secret. */
  | { username: string; password: string }
  /** An OAuth2 refresh token (docker's `identitytoken`), used with grant_type=refresh_token. */
  | { identityToken: string; username?: string }
  /** A bearer token to send as it is (docker's `registrytoken`). */
  | { registryToken: string };

export interface CredentialRequest {
  /** `host[:port]`, the key docker keeps credentials under. */
  registry: string;
  /** Base URL, e.g. `https://registry.example`. */
  url: string;
}

/** Called at most once per client, when credentials are first needed. */
export type CredentialProvider = (request: CredentialRequest) => RegistryCredentials | undefined | Promise<RegistryCredentials | undefined>;

export interface AuthOptions {
  credentials?: RegistryCredentials | CredentialProvider;
  /**
   * How to ask a token service: `get` (default) is `GET realm` with Basic
   * credentials, falling back to the OAuth2 POST when the realm answers 404
   * or 405; `post` asks with the OAuth2 `password` grant first, as
   * containerd does, falling back to GET on 400, 404 or 405.
   */
  tokenMethod?: 'get' | 'post';
  /** `auto` (default) follows the registry's challenge; `basic` always sends Basic and never asks for tokens. */
  authMode?: 'auto' | 'basic';
  /** OAuth2 client_id sent with POST token requests. */
  clientId?: string;
}

export interface Scope {
  type: string;
  name: string;
  actions: string[];
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

interface AuthState {
  scheme: 'none' | 'basic' | 'bearer';
  realm?: string;
  service?: string;
}

interface CachedToken {
  token: string;
  expiresAt: number;
  realm: string;
  service: string;
  scopes: Scope[];
}

/** Renew tokens this long before they expire. */
const EXPIRY_MARGIN_MS = 15_000;
const TOKEN_RESPONSE_LIMIT = 256 * 1024;

export function repositoryScope(name: string, ...actions: string[]): Scope {
  return { type: 'repository', name, actions };
}

export function scopeString(scope: Scope): string {
  return `${scope.type}:${scope.name}:${[...new Set(scope.actions)].sort().join(',')}`;
}

/** `repository:a/b:pull,push` (the name may not contain ':'; a registry host with a port is not part of it). */
export function parseScope(value: string): Scope | undefined {
  const first = value.indexOf(':');
  const last = value.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return { type: value.slice(0, first), name: value.slice(first + 1, last), actions: value.slice(last + 1).split(',').filter(Boolean) };
}

/** Unites scopes on the same resource. */
export function mergeScopes(...lists: Scope[][]): Scope[] {
  const byResource = new Map<string, Scope>();
  for (const scope of lists.flat()) {
    const key = `${scope.type}:${scope.name}`;
    const seen = byResource.get(key);
    if (seen) seen.actions = [...new Set([...seen.actions, ...scope.actions])].sort();
    else byResource.set(key, { type: scope.type, name: scope.name, actions: [...new Set(scope.actions)].sort() });
  }
  return [...byResource.values()].sort((a, b) => (`${a.type}:${a.name}` < `${b.type}:${b.name}` ? -1 : 1));
}

function covers(have: Scope[], need: Scope[]): boolean {
  return need.every((n) => have.some((h) => h.type === n.type && h.name === n.name && n.actions.every((a) => h.actions.includes(a) || h.actions.includes('*'))));
}

/** Parses `WWW-Authenticate` (several challenges, quoted values with escapes). */
export function parseChallenges(value: string | undefined): Challenge[] {
  if (!value) return [];
  const out: Challenge[] = [];
  const re = /\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*))?\s*,?/y;
  let current: Challenge | undefined;
  while (re.lastIndex < value.length) {
    const start = re.lastIndex;
    const m = re.exec(value);
    if (!m || re.lastIndex === start) break;
    const [, name, raw] = m;
    if (raw === undefined) {
      current = { scheme: name!.toLowerCase(), params: {} };
      out.push(current);
    } else if (current) {
      current.params[name!.toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    }
  }
  return out;
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

export class Authenticator {
  private state: AuthState | undefined;
  private discovery: Promise<AuthState> | undefined;
  private credentialsPromise: Promise<RegistryCredentials | undefined> | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  /** A refresh token the token service handed out (POST), reused instead of the password. */
  private refreshToken: string | undefined;

  constructor(
    private readonly transport: HttpTransport,
    private readonly baseUrl: URL,
    private readonly options: AuthOptions = {},
  ) {}

  /** The Authorization header for a request that needs `scopes` (undefined: send none). */
  async authorization(scopes: Scope[]): Promise<string | undefined> {
    const creds = await this.credentials();
    if (creds && 'registryToken' in creds) return `Bearer ${creds.registryToken}`;
    if (this.options.authMode === 'basic') return this.basic(creds);
    const state = await this.discover();
    if (state.scheme === 'none') return undefined;
    if (state.scheme === 'basic') return this.basic(creds);
    try {
      return `Bearer ${(await this.token(state, scopes)).token}`;
    } catch (err) {
      // A realm that does not serve tokens at all: registries behind such a
      // challenge (Hatoba among them) take Basic credentials directly.
      if (err instanceof RegistryApiError && (err.status === 404 || err.status === 405) && creds && 'password' in creds) {
        this.state = { scheme: 'basic' };
        return this.basic(creds);
      }
      throw err;
    }
  }

  /**
   * Learns from a 401 what to do next. Returns the scopes to retry with, or
   * undefined when a retry cannot help.
   */
  async unauthorized(res: HttpResponse, scopes: Scope[], sent: string | undefined): Promise<Scope[] | undefined> {
    const challenges = parseChallenges(res.header('www-authenticate'));
    const creds = await this.credentials();
    if (creds && 'registryToken' in creds) return undefined;
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer && this.options.authMode !== 'basic') {
      const wasBasic = this.state?.scheme === 'basic';
      this.state = { scheme: 'bearer', realm: bearer.params.realm, service: bearer.params.service ?? '' };
      const asked = (bearer.params.scope ?? '').split(' ').map(parseScope).filter((s): s is Scope => s !== undefined);
      // Forget the token that was refused (expired, revoked, or short of a scope).
      if (sent?.startsWith('Bearer ')) {
        const token = sent.slice(7);
        for (const [key, cached] of this.tokens) if (cached.token === token) this.tokens.delete(key);
      }
      // Having sent Basic to a registry that wants tokens, or a token, a retry can help.
      if (sent && !sent.startsWith('Bearer ') && wasBasic) return undefined;
      return mergeScopes(scopes, asked);
    }
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (basic || this.options.authMode === 'basic') {
      this.state = { scheme: 'basic' };
      if (creds && 'password' in creds && !sent?.startsWith('Basic ')) return scopes;
    }
    return undefined;
  }

  /** The registry's scheme, learned from an unauthenticated `GET /v2/` (once). */
  discover(): Promise<AuthState> {
    if (this.state) return Promise.resolve(this.state);
    this.discovery ??= this.ping().then(
      (s) => (this.state ??= s),
      (err) => {
        this.discovery = undefined;
        throw err;
      },
    );
    return this.discovery;
  }

  credentials(): Promise<RegistryCredentials | undefined> {
    const given = this.options.credentials;
    if (typeof given !== 'function') return Promise.resolve(given);
    this.credentialsPromise ??= Promise.resolve(given({ registry: this.baseUrl.host, url: this.baseUrl.origin })).catch((err) => {
      this.credentialsPromise = undefined;
      throw err;
    });
    return this.credentialsPromise;
  }

  private basic(creds: RegistryCredentials | undefined): string | undefined {
    return creds && 'password' in creds ? basicHeader(creds.username, creds.password) : undefined;
  }

  private async ping(): Promise<AuthState> {
    const url = new URL('/v2/', this.baseUrl);
    const res = await this.transport.request({ method: 'GET', url });
    const challenges = parseChallenges(res.header('www-authenticate'));
    await res.drain();
    if (res.status >= 200 && res.status < 300) return { scheme: 'none' };
    if (res.status === 401) {
      const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
      if (bearer) return { scheme: 'bearer', realm: bearer.params.realm, service: bearer.params.service ?? '' };
      return { scheme: 'basic' };
    }
    if (res.status === 404) throw new RegistryClientError(`${this.baseUrl.origin} is not an OCI registry: GET /v2/ answered 404`);
    throw new RegistryApiError({ status: res.status, errors: [], context: { method: 'GET', url: url.href, operation: `reach the registry ${this.baseUrl.host}` } });
  }

  private async token(state: AuthState, scopes: Scope[]): Promise<CachedToken> {
    const realm = state.realm!;
    const service = state.service ?? '';
    const wanted = mergeScopes(scopes);
    const key = `${realm} ${service} ${wanted.map(scopeString).join(' ')}`;
    const now = Date.now();
    const exact = this.tokens.get(key);
    if (exact && exact.expiresAt > now) return exact;
    for (const cached of this.tokens.values()) {
      if (cached.realm === realm && cached.service === service && cached.expiresAt > now && covers(cached.scopes, wanted)) return cached;
    }
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.fetchToken(realm, service, wanted).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    const token = await pending;
    this.tokens.set(key, token);
    return token;
  }

  private async fetchToken(realm: string, service: string, scopes: Scope[]): Promise<CachedToken> {
    const creds = await this.credentials();
    const password = creds && 'password' in creds ? creds : undefined;
    const refresh = creds && 'identityToken' in creds ? creds.identityToken : this.refreshToken;
    const attempt = async (method: 'GET' | 'POST', grant?: 'password' | 'refresh_token') => {
      const res = method === 'GET' ? await this.getToken(realm, service, scopes, password) : await this.postToken(realm, service, scopes, grant!, password, refresh);
      return { res, method };
    };
    let outcome: { res: HttpResponse; method: string };
    if (refresh) {
      outcome = await attempt('POST', 'refresh_token');
      if (outcome.res.status === 401 && password && !(creds && 'identityToken' in creds)) {
        // The remembered refresh token was revoked or expired: sign in again.
        await outcome.res.drain();
        this.refreshToken = undefined;
        outcome = await attempt('POST', 'password');
      }
    } else if (this.options.tokenMethod === 'post' && password) {
      outcome = await attempt('POST', 'password');
      if ([400, 404, 405].includes(outcome.res.status)) {
        await outcome.res.drain();
        outcome = await attempt('GET');
      }
    } else {
      outcome = await attempt('GET');
      if ((outcome.res.status === 404 || outcome.res.status === 405) && password) {
        await outcome.res.drain();
        outcome = await attempt('POST', 'password');
      }
    }
    const { res } = outcome;
    const who = creds && 'username' in creds && creds.username ? ` as ${creds.username}` : creds ? '' : ' anonymously';
    const context: RequestContext = { method: outcome.method, url: realm, operation: `get a token from ${safeOrigin(realm)}${who}` };
    const text = await res.text(TOKEN_RESPONSE_LIMIT);
    if (res.status < 200 || res.status >= 300) {
      const parsed = parseErrorBody(text);
      const retryAfter = Number(res.header('retry-after'));
      throw new RegistryApiError({ status: res.status, errors: parsed.errors, context, fallbackMessage: parsed.fallback, retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new RegistryClientError(`${context.operation}: the token service answered something that is not JSON`);
    }
    const token = typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (!token) throw new RegistryClientError(`${context.operation}: the answer has no token`);
    if (typeof body.refresh_token === 'string' && body.refresh_token && !(creds && 'identityToken' in creds)) this.refreshToken = body.refresh_token;
    // The spec's default lifetime is 60 s; renew a little early.
    const lifetime = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    const expiresAt = Date.now() + Math.max(lifetime - EXPIRY_MARGIN_MS, lifetime / 2);
    return { token, expiresAt, realm, service, scopes };
  }

  private getToken(realm: string, service: string, scopes: Scope[], creds: { username: string; password: string } | undefined): Promise<HttpResponse> {
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', scopeString(s));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (creds) headers.authorization = basicHeader(creds.username, creds.password);
    return this.transport.request({ method: 'GET', url, headers });
  }

  private postToken(realm: string, service: string, scopes: Scope[], grant: 'password' | 'refresh_token', creds: { username: string; password: string } | undefined, refresh: string | undefined): Promise<HttpResponse> {
    const form = new URLSearchParams();
    form.set('grant_type', grant);
    if (service) form.set('service', service);
    form.set('client_id', this.options.clientId ?? 'hatoba-client');
    if (scopes.length) form.set('scope', scopes.map(scopeString).join(' '));
    if (grant === 'password') {
      form.set('username', creds?.username ?? '');
      form.set('password', creds?.password ?? '');
    } else {
      form.set('refresh_token', refresh ?? '');
    }
    form.set('access_type', 'offline');
    return this.transport.request({
      method: 'POST',
      url: new URL(realm),
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
    });
  }
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
