// The JSON shapes of the management API (/api/v1) that both the server
// (src/auth/accounts.ts) and its client (src/client/management-client.ts)
// speak: declared once so they cannot drift apart.

export interface User {
  username: string;
  email: string | null;
  disabled: boolean;
  created_at: string;
}

/** A personal auth token as listed; its secret is shown only when created. */
export interface AuthToken {
  id: string;
  name: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked: boolean;
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
