// The Docker token service: GET /v2/token (Basic credentials or none) and
// POST /v2/token (OAuth2 password and refresh_token grants, as docker login
// and containerd use them). A token grants only what authorize() allows;
// asking for more is not an error, it just grants less. Besides repository
// scopes it grants `registry:catalog:*` and MANAGEMENT_API_SCOPE, which
// lets a holder of docker login's identity token use /api/v1 (with that
// token's rights, never a password's).
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { principalName } from '../auth/principal.js';
import { TokenError, type AccessEntry, type TokenSubject } from '../auth/tokens.js';
import type { Verb } from '../auth/verbs.js';
import { MANAGEMENT_API_SCOPE } from '../formats/management-api.js';
import { parseRepositoryName } from '../formats/reference.js';
import { RegistryError } from '../formats/error-codes.js';
import type { AccessGuard } from './access.js';
import { decodeBasic } from './access.js';
import { readLimited } from './request-body.js';

const REPOSITORY_ACTIONS: Verb[] = ['pull', 'push', 'delete'];
/** Scopes one token request may ask for; each costs an authorize() walk. Clients ask for a handful. */
export const MAX_SCOPES_PER_REQUEST = 50;

export function tokenRoutes(app: FastifyInstance, guard: AccessGuard): void {
  const { identity } = guard;

  app.get('/v2/token', async (req, reply) => {
    const query = req.query as Record<string, string | string[] | undefined>;
    const scopes = capped(list(query.scope).flatMap((s) => s.split(' ')).filter(Boolean));
    const header = req.headers.authorization;
    let principal: Principal = { kind: 'anonymous' };
    if (header?.toLowerCase().startsWith('basic ')) {
      const { login, secret } = decodeBasic(header.slice(6).trim());
      principal = await guard.signIn(req, login, secret);
    } else if (header) {
      throw new RegistryError('UNAUTHORIZED', 'the token endpoint takes Basic credentials (or none, for public repositories)');
    }
    const offline = first(query.offline_token) === 'true';
    return reply.send(await respond(principal, scopes, offline && principal.kind !== 'anonymous'));
  });

  app.post('/v2/token', async (req, reply) => {
    const form = new URLSearchParams((await readLimited(req.raw, 64 * 1024)).toString('utf8'));
    const grant = form.get('grant_type');
    const scopes = capped(form.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean));
    let principal: Principal;
    let refreshToken: string | undefined;
    if (grant === 'password') {
      principal = await guard.signIn(req, form.get('username') ?? '', form.get('password') ?? '');
    } else if (grant === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      try {
        const subject = await identity.tokens.verifyRefresh(presented);
        const resolved = subject.kind === 'anonymous' ? undefined : await identity.authenticator.resolve(subject);
        if (!resolved) throw new TokenError('the account or auth token behind this refresh token is no longer valid');
        principal = resolved;
        refreshToken = presented;
      } catch (err) {
        if (!(err instanceof TokenError)) throw err;
        await identity.audit.record({ principal: 'unknown', action: 'token.refresh', resource: '/v2/token', result: 'denied', remote: req.ip, detail: { reason: err.message } });
        return reply.code(401).send(oauthError('invalid_grant', `${err.message}; sign in again`, 'UNAUTHORIZED'));
      }
    } else {
      return reply.code(400).send(oauthError('unsupported_grant_type', 'grant_type must be password or refresh_token', 'UNSUPPORTED'));
    }
    // The refresh_token grant answers the same refresh token, not a new one
    // (so an identity token's life is never extended).
    const body = await respond(principal, scopes, !refreshToken);
    if (refreshToken) body.refresh_token = refreshToken;
    return reply.send({ ...body, scope: scopes.join(' ') });
  });

  app.get('/v2/token/jwks', async () => identity.tokens.jwks());

  async function respond(principal: Principal, scopes: string[], withRefresh: boolean): Promise<Record<string, unknown>> {
    const access: AccessEntry[] = [];
    for (const scope of scopes) {
      const entry = await grant(principal, scope);
      if (entry) access.push(entry);
    }
    const subject = subjectOf(principal);
    const issued = await identity.tokens.issueAccess(subject, access);
    const body: Record<string, unknown> = { token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt };
    if (withRefresh) body.refresh_token = await identity.tokens.issueRefresh(subject);
    return body;
  }

  /** Intersects what a scope asks for with what the principal may do. */
  async function grant(principal: Principal, scope: string): Promise<AccessEntry | undefined> {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first < 0 || last === first) return undefined;
    const type = scope.slice(0, first);
    const name = scope.slice(first + 1, last);
    const asked = scope.slice(last + 1).split(',').filter(Boolean);
    if (type === 'registry' && name === 'catalog') {
      return principal.kind === 'anonymous' ? undefined : { type, name, actions: ['*'] };
    }
    if (type === MANAGEMENT_API_SCOPE.type && name === MANAGEMENT_API_SCOPE.name) {
      // A password signs in to /api/v1 with Basic; a bearer token standing in
      // for it would carry its rights (changing the password) in a token
      // that /v2/ clients pass around. Tokens are for token holders.
      const tokenHolder = principal.kind === 'robot' || (principal.kind === 'user' && principal.via !== 'password');
      return tokenHolder ? { type, name, actions: [...MANAGEMENT_API_SCOPE.actions] } : undefined;
    }
    if (type !== 'repository') return undefined;
    let repository: string;
    try {
      repository = parseRepositoryName(name);
    } catch {
      return undefined;
    }
    const wanted = new Set(asked.flatMap((a) => (a === '*' ? REPOSITORY_ACTIONS : REPOSITORY_ACTIONS.filter((v) => v === a))));
    const allowed = await identity.authorizer.allowedVerbs(principal, repository);
    const actions = [...wanted].filter((v) => allowed.has(v));
    return { type, name: repository, actions };
  }
}

function subjectOf(p: Principal): TokenSubject {
  if (p.kind === 'anonymous') return { kind: 'anonymous', name: '' };
  if (p.kind === 'robot') return { kind: 'robot', id: p.id, name: principalName(p) };
  return { kind: 'user', id: p.id, tokenId: p.tokenId, credentialStamp: p.credentialStamp, refreshExpiresAt: p.via === 'identity-token' ? p.expiresAt : undefined, name: p.username };
}

/** Refuses, before any sign-in or authorize() work, a request for more scopes than any client needs. */
function capped(scopes: string[]): string[] {
  if (scopes.length > MAX_SCOPES_PER_REQUEST) {
    throw new RegistryError('TOOMANYREQUESTS', `a token request may ask for at most ${MAX_SCOPES_PER_REQUEST} scopes, not ${scopes.length}`, undefined, 429, { 'Retry-After': '60' });
  }
  return scopes;
}

function list(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}


/**
 * An OAuth2 error (RFC 6749 5.2: `error`, `error_description`, which
 * docker and containerd read) that is also an OCI error envelope, as every
 * 4xx under /v2/ is.
 */
function oauthError(error: string, description: string, code: 'UNAUTHORIZED' | 'UNSUPPORTED') {
  return { error, error_description: description, errors: [{ code, message: description }] };
}
