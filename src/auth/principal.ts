// Who is making a request.
import { DEFAULT_TOKEN_SCOPES, TOKEN_SCOPES, type TokenScope } from '../formats/management-api.js';

export type Principal =
  | { kind: 'anonymous' }
  | {
      kind: 'user';
      id: number;
      username: string;
      /**
       * `identity-token`: docker login's identity token (the refresh token a
       * password sign-in got from /v2/token), which holds token rights, not
       * the password's.
       */
      via: 'password' | 'token' | 'identity-token';
      tokenId?: string;
      /** Signed in with an auth or identity token: it holds at most these (see authorize.ts). */
      scopes?: TokenScope[];
      /** Signed in with an identity token: when it expires (ms); nothing it creates outlives it. */
      expiresAt?: number;
      /** Ends the bearer and refresh tokens issued for this sign-in when the credential changes or the user is disabled. */
      credentialStamp?: string;
    }
  | { kind: 'robot'; id: number; namespace: string; name: string };

export { TOKEN_SCOPES, DEFAULT_TOKEN_SCOPES, type TokenScope };

/**
 * What an identity token from a password sign-in holds: every scope an auth
 * token may be given (so admin commands work after docker login), and so no
 * more than an auth token could; never the password-only rights.
 */
export const IDENTITY_TOKEN_SCOPES: readonly TokenScope[] = TOKEN_SCOPES;

export function isTokenScope(value: string): value is TokenScope {
  return (TOKEN_SCOPES as readonly string[]).includes(value);
}

/** The scopes stored as a space-separated column (unknown words are dropped). */
export function parseTokenScopes(stored: string): TokenScope[] {
  return TOKEN_SCOPES.filter((s) => stored.split(' ').includes(s));
}

/**
 * Whether the principal may manage its user's auth tokens and e-mail: a
 * password, or an auth token with the `api` scope (so a leaked pull token
 * cannot mint itself successors).
 */
export function mayManageAccount(p: Principal): boolean {
  return p.kind === 'user' && (p.via === 'password' || (p.scopes ?? []).includes('api'));
}

export const ANONYMOUS: Principal = { kind: 'anonymous' };

export const ROBOT_PREFIX = 'robot$';

/** The name a principal logs in with and is recorded under in the audit log. */
export function principalName(p: Principal): string {
  switch (p.kind) {
    case 'anonymous':
      return 'anonymous';
    case 'user':
      return p.username;
    case 'robot':
      return robotLogin(p.namespace, p.name);
  }
}

export function robotLogin(namespace: string, name: string): string {
  return `${ROBOT_PREFIX}${namespace}+${name}`;
}

/** Parses `robot$<namespace>+<name>`. */
export function parseRobotLogin(login: string): { namespace: string; name: string } | undefined {
  if (!login.startsWith(ROBOT_PREFIX)) return undefined;
  const rest = login.slice(ROBOT_PREFIX.length);
  const plus = rest.lastIndexOf('+');
  if (plus <= 0 || plus === rest.length - 1) return undefined;
  return { namespace: rest.slice(0, plus), name: rest.slice(plus + 1) };
}
