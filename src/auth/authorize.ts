// The one function that grants or denies: authorize(principal, verb,
// resource). A resource is a repository or namespace path ('' is the whole
// instance); a role binding at any prefix of the path applies to it, so a
// binding on `acme` covers `acme/project01/app`.
import type { IdentityStore } from '../db/identity.js';
import type { Principal } from './principal.js';
import type { Verb } from './verbs.js';

/** '', 'a', 'a/b', 'a/b/c' for 'a/b/c'. */
export function namespacePrefixes(path: string): string[] {
  const out = [''];
  if (path === '') return out;
  const parts = path.split('/');
  for (let i = 1; i <= parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}

/** Whether `path` is `namespace` or lies below it. */
export function isWithin(path: string, namespace: string): boolean {
  return namespace === '' || path === namespace || path.startsWith(`${namespace}/`);
}

export class Authorizer {
  constructor(private readonly identity: IdentityStore) {}

  async authorize(principal: Principal, verb: Verb, resource: string): Promise<boolean> {
    return (await this.allowedVerbs(principal, resource)).has(verb);
  }

  /** Every verb the principal holds on the resource (for token requests). */
  async allowedVerbs(principal: Principal, resource: string): Promise<Set<Verb>> {
    const prefixes = namespacePrefixes(resource);
    const verbs = new Set<Verb>();
    // Anyone, signed in or not, may pull from a public project.
    if (resource !== '' && (await this.identity.anyPublicProject(prefixes.slice(1)))) verbs.add('pull');
    if (principal.kind === 'anonymous') return verbs;
    let subjects: { kind: string; ids: number[] }[];
    if (principal.kind === 'robot') {
      // A robot acts only inside its own namespace, whatever it is bound to.
      if (!isWithin(resource, principal.namespace) || resource === '') return verbs;
      subjects = [{ kind: 'robot', ids: [principal.id] }];
    } else {
      subjects = [
        { kind: 'user', ids: [principal.id] },
        { kind: 'group', ids: await this.identity.groupsOf(principal.id) },
      ];
    }
    for (const v of await this.identity.grantedVerbs(prefixes, subjects)) verbs.add(v as Verb);
    return verbs;
  }
}
