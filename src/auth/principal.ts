// Who is making a request.
export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; id: number; username: string; via: 'password' | 'token'; tokenId?: string; credentialStamp?: string }
  | { kind: 'robot'; id: number; namespace: string; name: string };

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
