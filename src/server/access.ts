// Who is calling and whether they may: reads the Authorization header
// (Basic or a Bearer token from /v2/token), asks authorize(), and answers
// with the Docker token protocol's challenge (401) or DENIED (403).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthenticationError } from '../auth/authenticate.js';
import type { Identity } from '../auth/identity.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import { TokenError, type AccessEntry } from '../auth/tokens.js';
import type { Verb } from '../auth/verbs.js';
import { RegistryError } from '../formats/error-codes.js';

export interface RequestAuth {
  principal: Principal;
  credentials: 'none' | 'basic' | 'bearer';
  /** What a bearer token grants (decided by authorize() when it was issued). */
  granted?: AccessEntry[];
}

export type RepositoryVerb = Extract<Verb, 'pull' | 'push' | 'delete'>;

export class AccessGuard {
  private readonly cache = new WeakMap<FastifyRequest, Promise<RequestAuth>>();

  constructor(
    readonly identity: Identity,
    readonly service: string,
    private readonly publicUrl?: string,
  ) {}

  /** Authenticates once per request; bad credentials are 401 (or 429 when throttled). */
  auth(req: FastifyRequest): Promise<RequestAuth> {
    let pending = this.cache.get(req);
    if (!pending) {
      pending = this.authenticate(req);
      this.cache.set(req, pending);
    }
    return pending;
  }

  /** The principal, if it may do `verb` on `repository`; else throws 401 or 403 (and audits the denial). */
  async require(req: FastifyRequest, reply: FastifyReply, verb: RepositoryVerb, repository: string): Promise<Principal> {
    const auth = await this.auth(req);
    if (await this.allows(auth, verb, repository)) return auth.principal;
    const actions = verb === 'pull' ? 'pull' : `pull,${verb}`;
    const scope = `repository:${repository}:${actions}`;
    await this.identity.audit.record({ principal: auth.principal, action: verb, resource: repository, result: 'denied', remote: req.ip });
    // Without credentials, or with a token that simply lacks this scope
    // while its holder could get it, the client should (re)authenticate.
    const couldGetIt = auth.credentials === 'bearer' && auth.principal.kind !== 'anonymous' && (await this.identity.authorizer.authorize(auth.principal, verb, repository));
    if (auth.principal.kind === 'anonymous' || couldGetIt) {
      this.challenge(req, reply, scope, couldGetIt ? 'insufficient_scope' : undefined);
      throw new RegistryError('UNAUTHORIZED', 'authentication required', [{ Type: 'repository', Name: repository, Action: verb }]);
    }
    throw new RegistryError('DENIED', deniedMessage(auth.principal, verb, repository), [{ Type: 'repository', Name: repository, Action: verb }]);
  }

  /** For endpoints that need some identity but no particular right (GET /v2/, catalog). */
  async requireCredentials(req: FastifyRequest, reply: FastifyReply): Promise<RequestAuth> {
    const auth = await this.auth(req);
    if (auth.credentials === 'none') {
      this.challenge(req, reply);
      throw new RegistryError('UNAUTHORIZED', 'authentication required');
    }
    return auth;
  }

  async allows(auth: RequestAuth, verb: RepositoryVerb, repository: string): Promise<boolean> {
    if (auth.credentials === 'bearer') {
      // A token may hold several entries for one repository (containerd
      // asks for `pull` and `pull,push` in one request): its rights there
      // are the union of them all.
      return (auth.granted ?? []).some((a) => a.type === 'repository' && a.name === repository && (a.actions.includes(verb) || a.actions.includes('*')));
    }
    return this.identity.authorizer.authorize(auth.principal, verb, repository);
  }

  challenge(req: FastifyRequest, reply: FastifyReply, scope?: string, error?: string): void {
    const parts = [`realm=${quoted(`${this.baseUrl(req)}/v2/token`)}`, `service=${quoted(this.service)}`];
    if (scope) parts.push(`scope=${quoted(scope)}`);
    if (error) parts.push(`error=${quoted(error)}`);
    reply.header('WWW-Authenticate', `Bearer ${parts.join(',')}`);
  }

  /** public_url, else the scheme and Host of the request; a Host that is not host[:port] is a 400. */
  baseUrl(req: FastifyRequest): string {
    if (this.publicUrl) return this.publicUrl.replace(/\/+$/, '');
    // req.host is the Host header, or X-Forwarded-Host from a trusted proxy (trusted_proxies).
    const host = req.host;
    if (!VALID_HOST.test(host) || (req.protocol !== 'http' && req.protocol !== 'https')) {
      throw new RegistryError('UNSUPPORTED', 'the Host header is not a valid host[:port]', undefined, 400);
    }
    return `${req.protocol}://${host}`;
  }

  private async authenticate(req: FastifyRequest): Promise<RequestAuth> {
    const header = req.headers.authorization;
    if (!header) return { principal: ANONYMOUS, credentials: 'none' };
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const value = space < 0 ? '' : header.slice(space + 1).trim();
    if (scheme === 'basic') {
      const { login, secret } = decodeBasic(value);
      return { principal: await this.signIn(req, login, secret), credentials: 'basic' };
    }
    if (scheme === 'bearer') {
      try {
        const { subject, access } = await this.identity.tokens.verifyAccess(value);
        if (subject.kind === 'anonymous') return { principal: ANONYMOUS, credentials: 'bearer', granted: access };
        const principal = await this.identity.authenticator.resolve(subject);
        if (!principal) throw new TokenError('the account or auth token behind this bearer token is no longer valid');
        return { principal, credentials: 'bearer', granted: access };
      } catch (err) {
        if (!(err instanceof TokenError)) throw err;
        await this.identity.audit.record({ principal: 'unknown', action: 'authenticate', resource: req.url.split('?')[0]!, result: 'denied', remote: req.ip, detail: { reason: err.message } });
        throw new RegistryError('UNAUTHORIZED', `${err.message}; request a new token`);
      }
    }
    throw new RegistryError('UNAUTHORIZED', `unsupported authorization scheme "${scheme.slice(0, 20)}"; use Basic or Bearer`);
  }

  /** Basic credentials to a principal, with throttling and auditing of failures. */
  async signIn(req: FastifyRequest, login: string, secret: string): Promise<Principal> {
    try {
      return await this.identity.authenticator.basic(login, secret, req.ip);
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      await this.identity.audit.record({ principal: login.slice(0, 255), action: 'authenticate', resource: req.url.split('?')[0]!, result: 'denied', remote: req.ip, detail: { reason: err.reason } });
      if (err.reason === 'throttled') {
        throw new RegistryError('TOOMANYREQUESTS', err.message, undefined, 429, { 'Retry-After': String(err.retryAfterSeconds ?? 60) });
      }
      throw new RegistryError('UNAUTHORIZED', 'invalid username or password (or auth token)');
    }
  }
}

/** A DNS name or IPv4 address, or an [IPv6] literal, and an optional port (RFC 9110's Host, minus the odd characters). */
const VALID_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/** An auth-param value as a quoted-string (RFC 9110 §5.6.4): quotes and backslashes escaped. */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

export function decodeBasic(value: string): { login: string; secret: string } {
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new RegistryError('UNAUTHORIZED', 'malformed Basic credentials');
  return { login: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

function deniedMessage(principal: Principal, verb: Verb, repository: string): string {
  const who = principal.kind === 'user' ? principal.username : principal.kind === 'robot' ? `robot ${principal.namespace}+${principal.name}` : 'anonymous';
  const hint = verb === 'pull' ? 'artifact-reader' : verb === 'push' ? 'artifact-writer or system-artifact-management-admin' : 'project-admin';
  return `${who} has no ${verb} right on ${repository}; ask an administrator for a role binding such as ${hint}`;
}
