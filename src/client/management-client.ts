// A small typed client for Hatoba's management API (/api/v1) and for
// checking credentials the way docker login does (/v2/ and the token
// endpoint). Requests carry Basic credentials up front (the API's 401 has
// no Basic challenge to answer, so that browsers never offer to store a
// password for it), or, with docker login's identity token, a bearer
// token for MANAGEMENT_API_SCOPE: the identity token is an OAuth2 refresh
// token, which goes to the token endpoint only. Failures become ApiError
// (carrying the OCI error code and message) or ConnectionError.

import { Authenticator, basicHeader, type Scope } from './registry-auth.js';
import { RegistryApiError, RegistryConnectionError } from './registry-errors.js';
import { HttpTransport, type TransportOptions } from './registry-http.js';
import { MANAGEMENT_API_SCOPE, type AuthToken, type NewAuthToken, type Robot, type RoleBinding, type SubjectKind, type TokenScope, type User, type UserChanges } from '../formats/management-api.js';

export type { AuthToken, NewAuthToken, Robot, RoleBinding, SubjectKind, TokenScope, User, UserChanges } from '../formats/management-api.js';

/** A password, a personal auth token or a robot secret. */
export interface Credentials {
  username: string;
  password: string;
}

/** docker login's identity token (the refresh token /v2/token gave a sign-in). */
export interface IdentityTokenCredentials {
  identityToken: string;
}

// --- the API's JSON shapes (see docs/access.md); the shared ones are in
// formats/management-api.ts --------------------------------------------------

export interface Me {
  kind: 'user' | 'robot' | 'anonymous';
  username?: string;
  via?: 'password' | 'token' | 'identity-token';
  /** Signed in with an auth or identity token: its scopes. */
  scopes?: TokenScope[];
  namespace?: string;
  name?: string;
}

export interface Group {
  name: string;
  members: string[];
}

export interface Organization {
  name: string;
  members: string[];
  created_at?: string;
}

export interface Project {
  name: string;
  public: boolean;
  created_at?: string;
}

export interface Role {
  name: string;
  verbs: string[];
  description: string | null;
  builtin: boolean;
}


export interface AuditEntry {
  id: number;
  at: string;
  principal: string;
  action: string;
  resource: string;
  result: 'allowed' | 'denied' | 'failed';
  remote_addr: string | null;
  detail?: unknown;
}

export interface AuditQuery {
  /** ISO 8601 time or Unix milliseconds. */
  since?: string;
  until?: string;
  principal?: string;
  limit?: number;
  before?: number;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** Pass as `before` to get the next (older) page. */
  next?: number;
}

// --- errors ------------------------------------------------------------------------

export interface OciErrorEntry {
  code: string;
  message: string;
  detail?: unknown;
}

/** The server answered with an error (the OCI envelope, or an OAuth2 error from /v2/token). */
export class ApiError extends Error {
  constructor(
    /** HTTP status. */
    readonly status: number,
    /** OCI error code: UNAUTHORIZED, DENIED, NOT_FOUND, CONFLICT, INVALID_ARGUMENT, TOOMANYREQUESTS, ... */
    readonly code: string,
    message: string,
    readonly detail?: unknown,
    readonly errors: OciErrorEntry[] = [],
    /** Seconds, from Retry-After (429). */
    readonly retryAfter?: number,
    readonly url?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The server could not be reached (refused, DNS, TLS, timeout...). */
export class ConnectionError extends Error {
  constructor(
    readonly url: string,
    message: string,
    /** e.g. ECONNREFUSED, ENOTFOUND, EPROTO, ETIMEDOUT. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ConnectionError';
  }
}

const STATUS_CODES: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHORIZED', 403: 'DENIED', 404: 'NOT_FOUND', 409: 'CONFLICT', 429: 'TOOMANYREQUESTS' };

export interface ClientOptions {
  /** Per request, in milliseconds (default 30 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
  userAgent?: string;
  /** CAs to trust for https (see client/trust.ts); the requests then go through node:https, which takes them. */
  tls?: TransportOptions['tls'];
}

export class ManagementClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly userAgent: string;
  /** Gets (and renews) the bearer token for the API when the credentials are an identity token. */
  private readonly tokens?: Authenticator;

  constructor(
    baseUrl: string,
    readonly credentials?: Credentials | IdentityTokenCredentials,
    options: ClientOptions = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 30_000;
    const identityToken = credentials && 'identityToken' in credentials ? credentials.identityToken : undefined;
    const transport = options.tls || identityToken !== undefined ? new HttpTransport({ tls: options.tls, timeoutMs: this.timeoutMs }) : undefined;
    this.fetchImpl = options.fetch ?? (options.tls ? transportFetch(transport!) : fetch);
    this.userAgent = options.userAgent ?? 'hatoba-cli';
    if (identityToken !== undefined) this.tokens = new Authenticator(transport!, new URL(`${this.baseUrl}/`), { credentials: { identityToken }, clientId: this.userAgent });
  }

  // --- signing in --------------------------------------------------------------------

  /**
   * Checks credentials the way `docker login` does: GET /v2/ to learn the
   * challenge, then the token endpoint (Bearer) or /v2/ again (Basic) with
   * the credentials. Resolves when they are accepted; throws ApiError
   * (UNAUTHORIZED for wrong ones) otherwise.
   */
  async verifyCredentials(credentials: Credentials = this.requireCredentials()): Promise<void> {
    const ping = await this.send('GET', '/v2/', { auth: null });
    await ping.arrayBuffer();
    if (ping.status === 200) {
      // An open registry: nothing to check against but /v2/ with the credentials.
      await this.expectOk(await this.send('GET', '/v2/', { auth: credentials }));
      return;
    }
    if (ping.status !== 401) {
      throw new ApiError(ping.status, 'UNSUPPORTED', `${this.baseUrl} does not look like a container registry (GET /v2/ answered ${ping.status})`, undefined, [], undefined, `${this.baseUrl}/v2/`);
    }
    const challenge = parseChallenge(ping.headers.get('www-authenticate') ?? '');
    if (challenge?.scheme === 'bearer' && challenge.params.realm) {
      const realm = new URL(challenge.params.realm, `${this.baseUrl}/`);
      if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
      realm.searchParams.set('account', credentials.username);
      await this.expectOk(await this.send('GET', realm.toString(), { auth: credentials }));
      return;
    }
    await this.expectOk(await this.send('GET', '/v2/', { auth: credentials }));
  }

  me(): Promise<Me> {
    return this.json<{ principal: Me }>('GET', '/api/v1/me').then((r) => r.principal);
  }

  // --- users and tokens ------------------------------------------------------------

  listUsers(): Promise<User[]> {
    return this.json<{ users: User[] }>('GET', '/api/v1/users').then((r) => r.users);
  }
  getUser(username: string): Promise<User> {
    return this.json('GET', `/api/v1/users/${seg(username)}`);
  }
  createUser(input: { username: string; password?: string; email?: string }): Promise<User> {
    return this.json('POST', '/api/v1/users', input);
  }
  updateUser(username: string, changes: UserChanges): Promise<User> {
    return this.json('PATCH', `/api/v1/users/${seg(username)}`, changes);
  }
  deleteUser(username: string): Promise<void> {
    return this.empty('DELETE', `/api/v1/users/${seg(username)}`);
  }
  listTokens(username: string): Promise<AuthToken[]> {
    return this.json<{ tokens: AuthToken[] }>('GET', `/api/v1/users/${seg(username)}/tokens`).then((r) => r.tokens);
  }
  /** The answer's `secret` is given only here, never again. */
  createToken(username: string, input: NewAuthToken): Promise<AuthToken & { secret: string }> {
    return this.json('POST', `/api/v1/users/${seg(username)}/tokens`, input);
  }
  revokeToken(username: string, id: string): Promise<void> {
    return this.empty('DELETE', `/api/v1/users/${seg(username)}/tokens/${seg(id)}`);
  }

  // --- robots, groups, organizations ----------------------------------------------

  listRobots(namespace?: string): Promise<Robot[]> {
    return this.json<{ robots: Robot[] }>('GET', `/api/v1/robots${query({ namespace })}`).then((r) => r.robots);
  }
  /** The answer's `secret` is given only here, never again. */
  createRobot(input: { namespace: string; name: string; description?: string; expiresInDays?: number }): Promise<Robot & { secret: string }> {
    return this.json('POST', '/api/v1/robots', input);
  }
  deleteRobot(namespace: string, name: string): Promise<void> {
    return this.empty('DELETE', `/api/v1/robots${query({ namespace, name })}`);
  }

  listGroups(): Promise<Group[]> {
    return this.json<{ groups: Group[] }>('GET', '/api/v1/groups').then((r) => r.groups);
  }
  createGroup(name: string): Promise<Group> {
    return this.json('POST', '/api/v1/groups', { name });
  }
  deleteGroup(name: string): Promise<void> {
    return this.empty('DELETE', `/api/v1/groups/${seg(name)}`);
  }
  setGroupMember(group: string, username: string, member: boolean): Promise<void> {
    return this.empty(member ? 'PUT' : 'DELETE', `/api/v1/groups/${seg(group)}/members/${seg(username)}`);
  }

  listOrganizations(): Promise<Organization[]> {
    return this.json<{ organizations: Organization[] }>('GET', '/api/v1/organizations').then((r) => r.organizations);
  }
  createOrganization(name: string): Promise<Organization> {
    return this.json('POST', '/api/v1/organizations', { name });
  }
  deleteOrganization(name: string): Promise<void> {
    return this.empty('DELETE', `/api/v1/organizations/${seg(name)}`);
  }
  setOrganizationMember(organization: string, username: string, member: boolean): Promise<void> {
    return this.empty(member ? 'PUT' : 'DELETE', `/api/v1/organizations/${seg(organization)}/members/${seg(username)}`);
  }

  // --- projects -----------------------------------------------------------------------

  listProjects(): Promise<Project[]> {
    return this.json<{ projects: Project[] }>('GET', '/api/v1/projects').then((r) => r.projects);
  }
  createProject(name: string, isPublic = false): Promise<Project> {
    return this.json('POST', '/api/v1/projects', { name, public: isPublic });
  }
  updateProject(name: string, changes: { public: boolean }): Promise<Project> {
    return this.json('PATCH', `/api/v1/projects/${path(name)}`, changes);
  }
  deleteProject(name: string): Promise<void> {
    return this.empty('DELETE', `/api/v1/projects/${path(name)}`);
  }

  // --- roles and role bindings --------------------------------------------------------

  listRoles(): Promise<Role[]> {
    return this.json<{ roles: Role[] }>('GET', '/api/v1/roles').then((r) => r.roles);
  }
  createRole(input: { name: string; verbs: string[]; description?: string }): Promise<Role> {
    return this.json('POST', '/api/v1/roles', input);
  }
  deleteRole(name: string): Promise<void> {
    return this.empty('DELETE', `/api/v1/roles/${seg(name)}`);
  }

  /** Without a namespace: every binding (instance admins only). */
  listRoleBindings(namespace?: string): Promise<RoleBinding[]> {
    return this.json<{ rolebindings: RoleBinding[] }>('GET', `/api/v1/rolebindings${query({ namespace })}`).then((r) => r.rolebindings);
  }
  createRoleBinding(input: { name: string; namespace?: string; role: string; subject: { kind: SubjectKind; name: string } }): Promise<RoleBinding> {
    return this.json('POST', '/api/v1/rolebindings', { ...input, namespace: input.namespace ?? '' });
  }
  deleteRoleBinding(namespace: string, name: string): Promise<void> {
    return this.empty('DELETE', `/api/v1/rolebindings${query({ namespace, name })}`);
  }

  // --- audit ------------------------------------------------------------------------

  audit(q: AuditQuery = {}): Promise<AuditPage> {
    return this.json('GET', `/api/v1/audit${query({ since: q.since, until: q.until, principal: q.principal, limit: q.limit?.toString(), before: q.before?.toString() })}`);
  }

  // --- plumbing ---------------------------------------------------------------------

  private requireCredentials(): Credentials {
    if (!this.credentials || !('password' in this.credentials)) throw new Error('this client has no user name and password to check');
    return this.credentials;
  }

  /** The Authorization header the stored credentials give an API request. */
  private async authorization(): Promise<string | undefined> {
    const creds = this.credentials;
    if (!creds) return undefined;
    if ('password' in creds) return basicHeader(creds.username, creds.password);
    let header: string | undefined;
    try {
      // The token endpoint's refresh_token grant, where GET /v2/'s challenge points.
      header = await this.tokens!.authorization([{ ...MANAGEMENT_API_SCOPE, actions: [...MANAGEMENT_API_SCOPE.actions] } satisfies Scope]);
    } catch (err) {
      if (err instanceof RegistryApiError) throw new ApiError(err.status, err.code, err.serverMessage, err.detail, err.errors, err.retryAfter, err.url);
      if (err instanceof RegistryConnectionError) throw new ConnectionError(err.url, err.message, err.code);
      throw new ApiError(0, 'UNSUPPORTED', (err as Error).message);
    }
    if (!header?.startsWith('Bearer ')) {
      throw new ApiError(401, 'UNAUTHORIZED', `${this.baseUrl} does not hand out tokens, so the identity token from docker login cannot sign in to its management API`);
    }
    return header;
  }

  private async json<T>(method: string, url: string, body?: unknown): Promise<T> {
    const res = await this.expectOk(await this.send(method, url, { body }));
    const text = await res.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  private async empty(method: string, url: string): Promise<void> {
    const res = await this.expectOk(await this.send(method, url));
    await res.arrayBuffer();
  }

  private async send(method: string, url: string, options: { body?: unknown; auth?: Credentials | null } = {}): Promise<Response> {
    const target = /^https?:\/\//.test(url) ? url : `${this.baseUrl}${url}`;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent };
    const authorization = options.auth === undefined ? await this.authorization() : options.auth && basicHeader(options.auth.username, options.auth.password);
    if (authorization) headers.authorization = authorization;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    try {
      return await this.fetchImpl(target, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw connectionError(target, err);
    }
  }

  private async expectOk(res: Response): Promise<Response> {
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    const retry = Number(res.headers.get('retry-after'));
    const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const envelope = parsed as { errors?: OciErrorEntry[]; error?: string; error_description?: string } | undefined;
    const url = res.url || undefined;
    if (envelope && Array.isArray(envelope.errors) && envelope.errors.length > 0) {
      const first = envelope.errors[0]!;
      throw new ApiError(res.status, String(first.code), String(first.message ?? first.code), first.detail, envelope.errors, retryAfter, url);
    }
    const code = STATUS_CODES[res.status] ?? (res.status >= 500 ? 'UNKNOWN' : 'UNSUPPORTED');
    if (envelope && typeof envelope.error === 'string') {
      throw new ApiError(res.status, code, envelope.error_description ?? envelope.error, undefined, [], retryAfter, url);
    }
    const snippet = text.trim().slice(0, 200);
    throw new ApiError(res.status, code, `the server answered ${res.status} ${res.statusText}${snippet ? `: ${snippet}` : ''}`, undefined, [], retryAfter, url);
  }
}

/** Parses `Bearer realm="...",service="..."` (or `Basic realm=...`). */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
    params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

function connectionError(url: string, err: unknown): ConnectionError {
  const e = err as Error & { cause?: Error & { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return new ConnectionError(url, 'the server did not answer in time', 'ETIMEDOUT');
  const cause = e.cause;
  const code = cause?.code ?? (err as NodeJS.ErrnoException).code;
  return new ConnectionError(url, cause?.message ?? e.message, code);
}

function seg(value: string): string {
  return encodeURIComponent(value);
}

/** A name with slashes (a project) as the tail of a path. */
function path(value: string): string {
  return value.split('/').map(encodeURIComponent).join('/');
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * fetch() over the registry client's HTTP transport, for what this client
 * asks of it (string bodies, no redirects): Node's fetch cannot be given
 * extra CAs without another HTTP library.
 */
function transportFetch(transport: HttpTransport): typeof fetch {
  return async (input, init = {}) => {
    const res = await transport.request({
      method: init.method ?? 'GET',
      url: new URL(String(input)),
      headers: init.headers as Record<string, string>,
      body: init.body as string | undefined,
      followRedirects: false,
      signal: init.signal ?? undefined,
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    const empty = res.status === 204 || res.status === 304 || init.method === 'HEAD';
    const body = empty ? null : await res.text(16 * 1024 * 1024);
    if (empty) await res.drain();
    return new Response(body, { status: res.status, statusText: res.body.statusMessage, headers });
  };
}
