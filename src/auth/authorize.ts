// The one function that grants or denies: authorize(principal, verb,
// resource). A resource is a repository or namespace path ('' is the whole
// instance); a role binding at any prefix of the path applies to it, so a
// binding on `acme` covers `acme/project01/app`.
import type { IdentityStore } from '../db/identity.js';
import type { Principal, TokenScope } from './principal.js';
import type { Verb } from './verbs.js';

/** The verbs each scope of a personal auth token lets it use; a token holds at most these. */
export const SCOPE_VERBS: Record<TokenScope, readonly Verb[]> = {
  pull: ['pull'],
  // Every write to repositories: pushing, deleting and signing artifacts.
  push: ['push', 'delete', 'sign'],
  api: ['admin', 'read-audit'],
};

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

/**
 * What a principal holds, loaded from the database: the verbs its role
 * bindings grant per namespace, and the public projects. Loaded for the
 * prefixes of one resource, or whole (to filter a catalog page).
 */
export interface Grants {
  principal: Principal;
  byNamespace: Map<string, Set<string>>;
  publicProjects: Set<string>;
}

/** The rules, in one place: which verbs `grants` give on `resource`. */
export function verbsOn(grants: Grants, resource: string): Set<Verb> {
  const { principal } = grants;
  const prefixes = namespacePrefixes(resource);
  const verbs = new Set<Verb>();
  // Anyone, signed in or not, may pull from a public project.
  if (resource !== '' && prefixes.slice(1).some((p) => grants.publicProjects.has(p))) verbs.add('pull');
  if (principal.kind === 'anonymous') return verbs;
  // A robot acts only inside its own namespace, whatever it is bound to.
  if (principal.kind === 'robot' && (resource === '' || !isWithin(resource, principal.namespace))) return verbs;
  for (const prefix of prefixes) for (const v of grants.byNamespace.get(prefix) ?? []) verbs.add(v as Verb);
  // Signed in with an auth or identity token: no more than its scopes,
  // whatever the roles (none, should a token principal come without them).
  if (principal.kind === 'user' && principal.via !== 'password') {
    const scoped = new Set((principal.scopes ?? []).flatMap((s) => SCOPE_VERBS[s]));
    for (const v of verbs) if (!scoped.has(v)) verbs.delete(v);
  }
  return verbs;
}

export class Authorizer {
  constructor(private readonly identity: IdentityStore) {}

  /** The one decision function: may `principal` do `verb` on `resource`? */
  async authorize(principal: Principal, verb: Verb, resource: string): Promise<boolean> {
    return (await this.allowedVerbs(principal, resource)).has(verb);
  }

  /** Every verb the principal holds on the resource (for token requests). */
  async allowedVerbs(principal: Principal, resource: string): Promise<Set<Verb>> {
    return verbsOn(await this.grants(principal, namespacePrefixes(resource)), resource);
  }

  /** A decision function for many resources at once (a catalog page): one load, then no queries. */
  async decider(principal: Principal): Promise<(verb: Verb, resource: string) => boolean> {
    const grants = await this.grants(principal);
    return (verb, resource) => verbsOn(grants, resource).has(verb);
  }

  /** Loads the grants at `namespaces` (all namespaces when absent). */
  private async grants(principal: Principal, namespaces?: string[]): Promise<Grants> {
    const publicProjects = new Set(await this.identity.publicProjects(namespaces?.slice(1)));
    const byNamespace = new Map<string, Set<string>>();
    if (principal.kind !== 'anonymous') {
      const subjects =
        principal.kind === 'robot'
          ? [{ kind: 'robot', ids: [principal.id] }]
          : [
              { kind: 'user', ids: [principal.id] },
              { kind: 'group', ids: await this.identity.groupsOf(principal.id) },
            ];
      for (const { namespace, verbs } of await this.identity.grantedVerbs(subjects, namespaces)) {
        const set = byNamespace.get(namespace) ?? new Set<string>();
        for (const v of verbs) set.add(v);
        byNamespace.set(namespace, set);
      }
    }
    return { principal, byNamespace, publicProjects };
  }
}
