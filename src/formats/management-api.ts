// The JSON shapes of the management API (/api/v1) that both the server
// (src/auth/accounts.ts) and its client (src/client/management-client.ts)
// speak: declared once so they cannot drift apart.

export interface User {
  username: string;
  email: string | null;
  disabled: boolean;
  created_at: string;
}

/**
 * What a personal auth token may be used for: `pull` and `push` on
 * repositories (push covers every repository write: push, delete, sign),
 * `api` for the management API's administrative rights and for managing
 * the user's own tokens and e-mail. New tokens get DEFAULT_TOKEN_SCOPES.
 */
export const TOKEN_SCOPES = ['pull', 'push', 'api'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];
export const DEFAULT_TOKEN_SCOPES: readonly TokenScope[] = ['pull', 'push'];

/**
 * The token-protocol scope (`registry:<name>:<actions>`, as `registry:catalog:*`)
 * of an access token that /api/v1 takes as a bearer credential. A client
 * holding docker login's identity token (an OAuth2 refresh token, which
 * only the token endpoint may see) asks POST /v2/token for it.
 */
export const MANAGEMENT_API_SCOPE = { type: 'registry', name: 'api', actions: ['*'] } as const;

/** A personal auth token as listed; its secret is shown only when created. */
export interface AuthToken {
  id: string;
  name: string;
  scopes: TokenScope[];
  /** The token it was created with, if any: revoking that one revokes this one. */
  parent: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked: boolean;
}

/** The body of POST /api/v1/users/{u}/tokens. */
export interface NewAuthToken {
  name: string;
  expiresInDays?: number;
  /** Default DEFAULT_TOKEN_SCOPES; a token can only create tokens with scopes it has itself. */
  scopes?: TokenScope[];
}

/** The body of PATCH /api/v1/users/{u}. */
export interface UserChanges {
  password?: string;
  email?: string | null;
  disabled?: boolean;
  /** Revoke every auth token of the user (and what they created), e.g. with a password reset. */
  revokeTokens?: boolean;
}

export interface Robot {
  /** robot$<namespace>+<name> */
  login: string;
  namespace: string;
  name: string;
  description: string | null;
  created_at: string;
  expires_at: string | null;
}

export type SubjectKind = 'user' | 'group' | 'robot';

export interface RoleBinding {
  name: string;
  /** '' is the instance. */
  namespace: string;
  role: string;
  subject: { kind: SubjectKind | string; name: string };
  created_at: string;
}
