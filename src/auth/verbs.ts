// What a principal can be allowed to do, and the roles that bundle verbs.
export const VERBS = ['pull', 'push', 'delete', 'sign', 'admin', 'read-audit'] as const;
export type Verb = (typeof VERBS)[number];

export function isVerb(value: string): value is Verb {
  return (VERBS as readonly string[]).includes(value);
}

export interface BuiltinRole {
  name: string;
  verbs: Verb[];
  description: string;
  /** Where a binding of this role may be made. */
  scope: 'instance' | 'organization' | 'any';
}

export const SYSTEM_ADMIN_ROLE = 'system-artifact-management-admin';
export const ORG_ADMIN_ROLE = 'organization-system-artifact-management-admin';

export const BUILTIN_ROLES: BuiltinRole[] = [
  { name: SYSTEM_ADMIN_ROLE, verbs: [...VERBS], description: 'everything on every repository of the instance', scope: 'instance' },
  { name: ORG_ADMIN_ROLE, verbs: [...VERBS], description: 'everything on the projects of one organization', scope: 'organization' },
  { name: 'project-admin', verbs: ['pull', 'push', 'delete', 'sign', 'admin', 'read-audit'], description: 'everything inside one project', scope: 'any' },
  { name: 'artifact-writer', verbs: ['pull', 'push'], description: 'pull and push artifacts', scope: 'any' },
  { name: 'artifact-reader', verbs: ['pull'], description: 'pull artifacts', scope: 'any' },
];
