// The kinds of things the admin commands list, show and delete, with their
// table columns; shared by the noun-first commands (`hatoba user get`) and
// the kubectl-shaped ones (`hatoba get users`).
import type { AuditEntry, AuthToken, Group, Organization, Project, Robot, Role, RoleBinding, User } from '../../client/management-client.js';
import { CliError } from '../errors.js';
import { age, orNone, shortTime, type Column, type NameOf } from '../output.js';
import type { Session } from '../session.js';

export interface Scope {
  /** -n NAMESPACE */
  namespace?: string;
  /** --user (tokens) */
  user?: string;
}

export interface Kind<T> {
  /** Singular, as in messages: `user/jdoe created`. */
  name: string;
  plural: string;
  /** Other names `hatoba get` accepts. */
  aliases: string[];
  columns: Column<T>[];
  /** The name a row is found by. */
  id(row: T): string;
  /** The name `-o name` prints after `kind/` when it is not the id (a robot's login). */
  displayName?(row: T): string;
  list(session: Session, scope: Scope): Promise<T[]>;
  /** One by name (default: from the list). */
  get?(session: Session, name: string, scope: Scope): Promise<T>;
  remove(session: Session, name: string, scope: Scope): Promise<string>;
}

export const INSTANCE = '<instance>';
const namespaceCell = (ns: string) => (ns === '' ? INSTANCE : ns);
const list = (values: string[]) => (values.length ? values.join(',') : '<none>');

export const users: Kind<User> = {
  name: 'user',
  plural: 'users',
  aliases: ['user', 'users'],
  columns: [
    { header: 'username', value: (u) => u.username },
    { header: 'email', value: (u) => orNone(u.email) },
    { header: 'disabled', value: (u) => String(u.disabled) },
    { header: 'age', value: (u) => age(u.created_at) },
  ],
  id: (u) => u.username,
  list: (s) => s.run((c) => c.listUsers()),
  get: (s, name) => s.run((c) => c.getUser(name)),
  remove: async (s, name) => {
    await s.run((c) => c.deleteUser(name));
    return name;
  },
};

/** Finds a token by id, or by name among the tokens not revoked. */
export async function findToken(session: Session, user: string, idOrName: string): Promise<AuthToken> {
  const tokens = await session.run((c) => c.listTokens(user));
  const byId = tokens.find((t) => t.id === idOrName);
  if (byId) return byId;
  const byName = tokens.filter((t) => t.name === idOrName);
  const live = byName.filter((t) => !t.revoked);
  const found = live.length ? live : byName;
  if (found.length === 1) return found[0]!;
  if (found.length > 1) throw new CliError(`user ${user} has ${found.length} tokens named ${idOrName} (${found.map((t) => t.id).join(', ')})`, 'name one by its ID');
  throw new CliError(`not found: user ${user} has no token with ID or name ${idOrName}`, `list them with: hatoba token get --user ${user}`);
}

export const tokens: Kind<AuthToken> = {
  name: 'token',
  plural: 'tokens',
  aliases: ['token', 'tokens'],
  columns: [
    { header: 'id', value: (t) => t.id },
    { header: 'name', value: (t) => t.name },
    { header: 'scopes', value: (t) => t.scopes.join(',') },
    { header: 'expires', value: (t) => (t.expires_at ? shortTime(t.expires_at) : 'never') },
    { header: 'last used', value: (t) => (t.last_used_at ? shortTime(t.last_used_at) : 'never') },
    { header: 'revoked', value: (t) => String(t.revoked) },
    { header: 'age', value: (t) => age(t.created_at) },
  ],
  id: (t) => t.id,
  list: (s, scope) => s.run((c) => c.listTokens(scope.user ?? s.username)),
  get: (s, name, scope) => findToken(s, scope.user ?? s.username, name),
  remove: async (s, name, scope) => {
    const user = scope.user ?? s.username;
    const token = await findToken(s, user, name);
    await s.run((c) => c.revokeToken(user, token.id));
    return `${token.id} (${token.name}) of ${user}`;
  },
};

/** `NAME -n NS`, or the robot's login `robot$NS+NAME`. */
export function robotRef(name: string, namespace: string | undefined): { namespace: string; name: string } {
  const login = /^robot\$(.+)\+([^+]+)$/.exec(name);
  if (login) {
    if (namespace !== undefined && namespace !== login[1]) throw new CliError(`${name} is not in namespace ${namespace}`);
    return { namespace: login[1]!, name: login[2]! };
  }
  if (!namespace) throw new CliError(`which namespace is robot ${name} in?`, 'add -n NAMESPACE, or name it as robot$NAMESPACE+NAME');
  return { namespace, name };
}

export const robots: Kind<Robot> = {
  name: 'robot',
  plural: 'robots',
  aliases: ['robot', 'robots'],
  columns: [
    { header: 'login', value: (r) => r.login },
    { header: 'namespace', value: (r) => r.namespace },
    { header: 'expires', value: (r) => (r.expires_at ? shortTime(r.expires_at) : 'never') },
    { header: 'description', value: (r) => orNone(r.description) },
    { header: 'age', value: (r) => age(r.created_at) },
  ],
  id: (r) => r.name,
  displayName: (r) => r.login,
  list: (s, scope) => s.run((c) => c.listRobots(scope.namespace)),
  get: async (s, name, scope) => {
    const ref = /^robot\$/.test(name) ? robotRef(name, scope.namespace) : { namespace: scope.namespace, name };
    const found = (await s.run((c) => c.listRobots(ref.namespace))).filter((r) => r.name === ref.name || r.login === name);
    if (found.length === 1) return found[0]!;
    if (found.length > 1) throw new CliError(`there are robots named ${name} in several namespaces (${found.map((r) => r.namespace).join(', ')})`, 'pick one with -n NAMESPACE');
    throw new CliError(`not found: no robot ${name}${ref.namespace ? ` in ${ref.namespace}` : ''}`);
  },
  remove: async (s, name, scope) => {
    const ref = robotRef(name, scope.namespace);
    await s.run((c) => c.deleteRobot(ref.namespace, ref.name));
    return `robot$${ref.namespace}+${ref.name}`;
  },
};

export const groups: Kind<Group> = {
  name: 'group',
  plural: 'groups',
  aliases: ['group', 'groups'],
  columns: [
    { header: 'name', value: (g) => g.name },
    { header: 'members', value: (g) => list(g.members) },
  ],
  id: (g) => g.name,
  list: (s) => s.run((c) => c.listGroups()),
  remove: async (s, name) => {
    await s.run((c) => c.deleteGroup(name));
    return name;
  },
};

export const organizations: Kind<Organization> = {
  name: 'org',
  plural: 'orgs',
  aliases: ['org', 'orgs', 'organization', 'organizations'],
  columns: [
    { header: 'name', value: (o) => o.name },
    { header: 'members', value: (o) => list(o.members) },
    { header: 'age', value: (o) => age(o.created_at) },
  ],
  id: (o) => o.name,
  list: (s) => s.run((c) => c.listOrganizations()),
  remove: async (s, name) => {
    await s.run((c) => c.deleteOrganization(name));
    return name;
  },
};

export const projects: Kind<Project> = {
  name: 'project',
  plural: 'projects',
  aliases: ['project', 'projects'],
  columns: [
    { header: 'name', value: (p) => p.name },
    { header: 'visibility', value: (p) => (p.public ? 'public' : 'private') },
    { header: 'age', value: (p) => age(p.created_at) },
  ],
  id: (p) => p.name,
  list: (s) => s.run((c) => c.listProjects()),
  remove: async (s, name) => {
    await s.run((c) => c.deleteProject(name));
    return name;
  },
};

export const roles: Kind<Role> = {
  name: 'role',
  plural: 'roles',
  aliases: ['role', 'roles'],
  columns: [
    { header: 'name', value: (r) => r.name },
    { header: 'verbs', value: (r) => r.verbs.join(',') },
    { header: 'builtin', value: (r) => String(r.builtin) },
    { header: 'description', value: (r) => orNone(r.description) },
  ],
  id: (r) => r.name,
  list: (s) => s.run((c) => c.listRoles()),
  remove: async (s, name) => {
    await s.run((c) => c.deleteRole(name));
    return name;
  },
};

export const roleBindings: Kind<RoleBinding> = {
  name: 'rolebinding',
  plural: 'rolebindings',
  aliases: ['rolebinding', 'rolebindings', 'rb'],
  columns: [
    { header: 'name', value: (b) => b.name },
    { header: 'namespace', value: (b) => namespaceCell(b.namespace) },
    { header: 'role', value: (b) => b.role },
    { header: 'subject', value: (b) => `${b.subject.kind}:${b.subject.name}` },
    { header: 'age', value: (b) => age(b.created_at) },
  ],
  id: (b) => b.name,
  list: (s, scope) => s.run((c) => c.listRoleBindings(scope.namespace)),
  get: async (s, name, scope) => {
    const found = (await s.run((c) => c.listRoleBindings(scope.namespace))).filter((b) => b.name === name);
    if (found.length === 1) return found[0]!;
    if (found.length > 1) {
      throw new CliError(`role binding ${name} exists in several namespaces (${found.map((b) => namespaceCell(b.namespace)).join(', ')})`, 'pick one with -n NAMESPACE');
    }
    throw new CliError(`not found: no role binding ${name}${scope.namespace !== undefined ? ` in ${scope.namespace || 'the instance'}` : ''}`, 'list them with: hatoba get rolebindings');
  },
  remove: async (s, name, scope) => {
    const namespace = scope.namespace ?? '';
    await s.run((c) => c.deleteRoleBinding(namespace, name));
    return namespace ? `${name} in ${namespace}` : `${name} (instance)`;
  },
};

/** `-o name`: `kind/name`, as kubectl prints it. */
export function nameOf<T>(kind: Kind<T>): NameOf<T> {
  return (row) => `${kind.name}/${(kind.displayName ?? kind.id)(row)}`;
}

export const auditName: NameOf<AuditEntry> = (e) => `audit/${e.id}`;

export const auditColumns: Column<AuditEntry>[] = [
  { header: 'time', value: (e) => shortTime(e.at) },
  { header: 'principal', value: (e) => e.principal },
  { header: 'action', value: (e) => e.action },
  { header: 'resource', value: (e) => e.resource },
  { header: 'result', value: (e) => e.result },
  { header: 'from', value: (e) => orNone(e.remote_addr) },
];

export const KINDS: Kind<any>[] = [users, tokens, robots, groups, organizations, projects, roles, roleBindings];

export function kindByName(name: string): Kind<unknown> {
  const kind = KINDS.find((k) => k.aliases.includes(name.toLowerCase()));
  if (!kind) throw new CliError(`unknown resource type "${name}"`, `use one of: ${KINDS.map((k) => k.plural).join(', ')}`);
  return kind;
}

/** One row by name: the kind's own lookup, or the list filtered. */
export async function getOne<T>(kind: Kind<T>, session: Session, name: string, scope: Scope): Promise<T> {
  if (kind.get) return kind.get(session, name, scope);
  const row = (await kind.list(session, scope)).find((r) => kind.id(r) === name);
  if (!row) throw new CliError(`not found: no ${kind.name} ${name}`, `list them with: hatoba get ${kind.plural}`);
  return row;
}
