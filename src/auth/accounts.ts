// Managing identities and access: users, personal auth tokens, robots,
// groups, organizations, projects, roles and role bindings. Input is
// validated here, once, for every front end (REST API, CLI, bootstrap).
import type { AuthTokenRow, IdentityStore, RoleBindingRow, RobotRow, UserRow } from '../db/identity.js';
import { parseRepositoryName, ReferenceFormatError } from '../formats/reference.js';
import type { User as PublicUser, AuthToken as PublicToken, Robot as PublicRobot, RoleBinding as PublicRoleBinding } from '../formats/management-api.js';
import { RegistryError } from '../formats/error-codes.js';
import { isWithin } from './authorize.js';
import { DEFAULT_TOKEN_SCOPES, isTokenScope, parseTokenScopes, robotLogin, TOKEN_SCOPES, type Principal, type TokenScope } from './principal.js';
import { generateId, generateSecret, hashPassword, hashSecret } from './secrets.js';
import { BUILTIN_ROLES, ORG_ADMIN_ROLE, SYSTEM_ADMIN_ROLE, isVerb } from './verbs.js';

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
const SIMPLE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const MIN_PASSWORD_LENGTH = 8;

export type { User as PublicUser, AuthToken as PublicToken, Robot as PublicRobot, RoleBinding as PublicRoleBinding } from '../formats/management-api.js';

export type SubjectRef = { kind: 'user' | 'group' | 'robot'; name: string };

export class Accounts {
  constructor(
    readonly identity: IdentityStore,
    /** Told after a user's password has changed (e.g. to drop the first admin's generated-password file). */
    private readonly onPasswordChanged?: (username: string) => void,
  ) {}

  async ensureBuiltinRoles(): Promise<void> {
    for (const role of BUILTIN_ROLES) await this.identity.upsertRole(role.name, role.verbs, role.description, true);
  }

  // --- users ---------------------------------------------------------------

  async createUser(input: { username: string; password?: string; email?: string }): Promise<PublicUser> {
    if (!USERNAME.test(input.username) || input.username.startsWith('robot$')) {
      throw invalid(`username "${input.username.slice(0, 64)}" must be 1-128 of letters, digits and . _ @ + - (no /)`);
    }
    if (input.password !== undefined) checkPassword(input.password);
    if (await this.identity.userByName(input.username)) throw conflict(`user ${input.username} already exists`);
    const hash = input.password === undefined ? null : await hashPassword(input.password);
    return publicUser(await this.identity.createUser(input.username, hash, input.email ?? null));
  }

  async user(username: string): Promise<UserRow> {
    const user = await this.identity.userByName(username);
    if (!user) throw notFound(`no user ${username}`);
    return user;
  }

  async listUsers(): Promise<PublicUser[]> {
    return (await this.identity.listUsers()).map(publicUser);
  }

  async updateUser(username: string, changes: { password?: string; email?: string | null; disabled?: boolean; revokeTokens?: boolean }): Promise<PublicUser> {
    const user = await this.user(username);
    const set: { password_hash?: string; email?: string | null; disabled?: number } = {};
    if (changes.password !== undefined) {
      checkPassword(changes.password);
      set.password_hash = await hashPassword(changes.password);
    }
    if (changes.email !== undefined) set.email = changes.email;
    if (changes.disabled !== undefined) set.disabled = changes.disabled ? 1 : 0;
    await this.identity.updateUser(user.id, set);
    if (changes.revokeTokens) await this.identity.revokeAuthTokensOf(user.id, Date.now());
    if (set.password_hash !== undefined) this.onPasswordChanged?.(user.username);
    return publicUser({ ...user, ...set });
  }

  async deleteUser(username: string): Promise<void> {
    const user = await this.user(username);
    await this.identity.deleteUser(user.id);
  }

  // --- personal auth tokens -------------------------------------------------

  /**
   * Creates a token; its secret is returned here and never again. Made by
   * `by` signed in with an auth token, it gets no scope that token lacks,
   * does not outlive it, and is revoked with it; made with an identity
   * token (docker login's), it gets no scope that one lacks and expires
   * with it at the latest.
   */
  async createToken(username: string, input: { name: string; expiresInDays?: number; scopes?: string[] }, by?: Principal): Promise<PublicToken & { secret: string }> {
    const user = await this.user(username);
    if (!input.name || input.name.length > 100) throw invalid('token name must be 1-100 characters');
    if (input.expiresInDays !== undefined && !(Number.isInteger(input.expiresInDays) && input.expiresInDays > 0 && input.expiresInDays <= 3650)) {
      throw invalid('expiresInDays must be a whole number of days from 1 to 3650');
    }
    const scopes = tokenScopes(input.scopes ?? DEFAULT_TOKEN_SCOPES);
    const now = Date.now();
    let expires = input.expiresInDays === undefined ? null : now + input.expiresInDays * 86_400_000;
    const parent = by?.kind === 'user' && by.via === 'token' ? await this.identity.authTokenById(by.tokenId ?? '') : undefined;
    if (by?.kind === 'user' && by.via === 'token') {
      if (!parent) throw denied('the auth token this request signed in with no longer exists');
      const wider = scopes.filter((s) => !parseTokenScopes(parent.scopes).includes(s));
      if (wider.length > 0) throw denied(`an auth token cannot create a token wider than itself: it has no ${wider.join(', ')} scope`);
      if (parent.expires_at !== null) {
        if (expires !== null && expires > parent.expires_at) throw invalid(`the new token must not outlive the token creating it (expires ${iso(parent.expires_at)})`);
        expires ??= parent.expires_at;
      }
    }
    if (by?.kind === 'user' && by.via === 'identity-token') {
      const wider = scopes.filter((s) => !(by.scopes ?? []).includes(s));
      if (wider.length > 0) throw denied(`an identity token cannot create a token wider than itself: it has no ${wider.join(', ')} scope`);
      const limit = by.expiresAt ?? now;
      if (expires !== null && expires > limit) {
        throw invalid(`the new token must not outlive the identity token from docker login creating it (expires ${iso(limit)}); sign in with the password (hatoba login) for a longer-lived one`);
      }
      expires ??= limit;
    }
    const secret = generateSecret(24);
    const row = {
      id: generateId(),
      user_id: user.id,
      name: input.name,
      secret_hash: hashSecret(secret),
      scopes: scopes.join(' '),
      parent_id: parent?.id ?? null,
      created_at: now,
      expires_at: expires,
    };
    if (!(await this.identity.createAuthToken(row))) throw denied('the auth token this request signed in with was revoked');
    return { ...publicToken({ ...row, last_used_at: null, revoked_at: null }), secret };
  }

  async listTokens(username: string): Promise<PublicToken[]> {
    const user = await this.user(username);
    return (await this.identity.authTokensOf(user.id)).map(publicToken);
  }

  async revokeToken(username: string, id: string): Promise<void> {
    const user = await this.user(username);
    const token = await this.identity.authTokenById(id);
    if (!token || token.user_id !== user.id) throw notFound(`user ${username} has no token ${id}`);
    await this.identity.revokeAuthToken(id, Date.now());
  }

  // --- robots ------------------------------------------------------------------

  async createRobot(input: { namespace: string; name: string; description?: string; expiresInDays?: number }): Promise<PublicRobot & { secret: string }> {
    const namespace = namespaceName(input.namespace);
    if (!SIMPLE_NAME.test(input.name)) throw invalid('robot name must be 1-63 of a-z 0-9 . _ -');
    if (await this.identity.robotByName(namespace, input.name)) throw conflict(`robot ${robotLogin(namespace, input.name)} already exists`);
    const secret = generateSecret(32);
    const now = Date.now();
    const row = await this.identity.createRobot({
      namespace,
      name: input.name,
      secret_hash: hashSecret(secret),
      description: input.description ?? null,
      created_at: now,
      expires_at: input.expiresInDays === undefined ? null : now + input.expiresInDays * 86_400_000,
    });
    return { ...publicRobot(row), secret };
  }

  async listRobots(namespace?: string): Promise<PublicRobot[]> {
    return (await this.identity.listRobots(namespace)).map(publicRobot);
  }

  async deleteRobot(namespace: string, name: string): Promise<void> {
    const robot = await this.identity.robotByName(namespace, name);
    if (!robot) throw notFound(`no robot ${robotLogin(namespace, name)}`);
    await this.identity.deleteRobot(robot.id);
  }

  // --- groups ------------------------------------------------------------------

  async createGroup(name: string): Promise<void> {
    if (!SIMPLE_NAME.test(name)) throw invalid('group name must be 1-63 of a-z 0-9 . _ -');
    if (await this.identity.groupByName(name)) throw conflict(`group ${name} already exists`);
    await this.identity.createGroup(name);
  }

  listGroups() {
    return this.identity.listGroups();
  }

  async setGroupMember(group: string, username: string, member: boolean): Promise<void> {
    const g = await this.identity.groupByName(group);
    if (!g) throw notFound(`no group ${group}`);
    const user = await this.user(username);
    if (member) await this.identity.addGroupMember(g.id, user.id);
    else if (!(await this.identity.removeGroupMember(g.id, user.id))) throw notFound(`${username} is not in group ${group}`);
  }

  async deleteGroup(name: string): Promise<void> {
    const g = await this.identity.groupByName(name);
    if (!g) throw notFound(`no group ${name}`);
    await this.identity.deleteGroup(g.id);
  }

  // --- organizations and projects --------------------------------------------

  async createOrganization(name: string): Promise<void> {
    const org = namespaceName(name);
    if (org.includes('/')) throw invalid('an organization is a top-level namespace: no / in its name');
    if (await this.identity.organizationExists(org)) throw conflict(`organization ${org} already exists`);
    await this.identity.createOrganization(org);
  }

  listOrganizations() {
    return this.identity.listOrganizations();
  }

  async setOrganizationMember(org: string, username: string, member: boolean): Promise<void> {
    if (!(await this.identity.organizationExists(org))) throw notFound(`no organization ${org}`);
    const user = await this.user(username);
    if (member) await this.identity.addOrganizationMember(org, user.id);
    else if (!(await this.identity.removeOrganizationMember(org, user.id))) throw notFound(`${username} is not a member of ${org}`);
  }

  async deleteOrganization(name: string): Promise<void> {
    if (!(await this.identity.deleteOrganization(name))) throw notFound(`no organization ${name}`);
  }

  async createProject(name: string, isPublic: boolean): Promise<void> {
    const project = namespaceName(name);
    if ((await this.identity.listProjects()).some((p) => p.name === project)) throw conflict(`project ${project} already exists`);
    await this.identity.createProject(project, isPublic);
  }

  async listProjects(): Promise<{ name: string; public: boolean; created_at: string }[]> {
    return (await this.identity.listProjects()).map((p) => ({ name: p.name, public: p.public === 1, created_at: iso(p.created_at)! }));
  }

  async updateProject(name: string, isPublic: boolean): Promise<void> {
    if (!(await this.identity.updateProject(name, isPublic))) throw notFound(`no project ${name}`);
  }

  async deleteProject(name: string): Promise<void> {
    if (!(await this.identity.deleteProject(name))) throw notFound(`no project ${name}`);
  }

  // --- roles and role bindings --------------------------------------------------

  async listRoles(): Promise<{ name: string; verbs: string[]; description: string | null; builtin: boolean }[]> {
    return (await this.identity.listRoles()).map((r) => ({ name: r.name, verbs: r.verbs.split(' '), description: r.description, builtin: r.builtin === 1 }));
  }

  async createRole(input: { name: string; verbs: string[]; description?: string }): Promise<void> {
    if (!SIMPLE_NAME.test(input.name)) throw invalid('role name must be 1-63 of a-z 0-9 . _ -');
    const bad = input.verbs.filter((v) => !isVerb(v));
    if (input.verbs.length === 0 || bad.length > 0) throw invalid(`verbs must be some of pull, push, delete, sign, admin, read-audit${bad.length ? ` (not ${bad.join(', ')})` : ''}`);
    if (await this.identity.role(input.name)) throw conflict(`role ${input.name} already exists`);
    await this.identity.upsertRole(input.name, [...new Set(input.verbs)], input.description ?? null, false);
  }

  async deleteRole(name: string): Promise<void> {
    const role = await this.identity.role(name);
    if (!role) throw notFound(`no role ${name}`);
    if (role.builtin) throw invalid(`role ${name} is built in and cannot be deleted`);
    if (await this.identity.roleInUse(name)) throw conflict(`role ${name} is still bound; delete its role bindings first`);
    await this.identity.deleteRole(name);
  }

  /** Like `kubectl create rolebinding NAME --role=R --user=U -n NAMESPACE`; namespace '' is the instance. */
  async createRoleBinding(input: { name: string; namespace: string; role: string; subject: SubjectRef }): Promise<PublicRoleBinding> {
    if (!SIMPLE_NAME.test(input.name)) throw invalid('role binding name must be 1-63 of a-z 0-9 . _ -');
    const namespace = input.namespace === '' ? '' : namespaceName(input.namespace);
    const role = await this.identity.role(input.role);
    if (!role) throw notFound(`no role ${input.role} (see: hatoba get roles)`);
    const builtin = BUILTIN_ROLES.find((r) => r.name === role.name);
    if (builtin?.scope === 'instance' && namespace !== '') throw invalid(`${SYSTEM_ADMIN_ROLE} is bound at the instance: leave out the namespace`);
    if (builtin?.scope === 'organization' && (namespace === '' || namespace.includes('/') || !(await this.identity.organizationExists(namespace)))) {
      throw invalid(`${ORG_ADMIN_ROLE} is bound at an organization: -n must name an existing organization`);
    }
    const subjectId = await this.subjectId(input.subject, namespace);
    if ((await this.identity.listRoleBindings(namespace)).some((b) => b.name === input.name)) {
      throw conflict(`role binding ${input.name} already exists in ${namespace || 'the instance'}`);
    }
    const row = await this.identity.createRoleBinding({ name: input.name, namespace, role: role.name, subject_kind: input.subject.kind, subject_id: subjectId });
    return { ...this.publicBinding(row, input.subject.name) };
  }

  async listRoleBindings(namespace?: string): Promise<PublicRoleBinding[]> {
    const rows = await this.identity.listRoleBindings(namespace);
    const out: PublicRoleBinding[] = [];
    for (const row of rows) out.push(this.publicBinding(row, await this.subjectName(row)));
    return out;
  }

  async deleteRoleBinding(namespace: string, name: string): Promise<void> {
    if (!(await this.identity.deleteRoleBinding(namespace, name))) throw notFound(`no role binding ${name} in ${namespace || 'the instance'}`);
  }

  private async subjectId(subject: SubjectRef, namespace: string): Promise<number> {
    switch (subject.kind) {
      case 'user':
        return (await this.user(subject.name.slice(subject.name.lastIndexOf('/') + 1))).id;
      case 'group': {
        const g = await this.identity.groupByName(subject.name);
        if (!g) throw notFound(`no group ${subject.name}`);
        return g.id;
      }
      case 'robot': {
        const parsed = /^robot\$(.+)\+([^+]+)$/.exec(subject.name);
        const robot = parsed ? await this.identity.robotByName(parsed[1]!, parsed[2]!) : undefined;
        if (!robot) throw notFound(`no robot ${subject.name} (robots are named robot$<namespace>+<name>)`);
        if (!isWithin(namespace, robot.namespace) || namespace === '') throw invalid(`robot ${subject.name} can only be bound inside its namespace ${robot.namespace}`);
        return robot.id;
      }
    }
  }

  private async subjectName(row: RoleBindingRow): Promise<string> {
    if (row.subject_kind === 'user') return (await this.identity.userById(row.subject_id))?.username ?? `#${row.subject_id}`;
    if (row.subject_kind === 'robot') {
      const r = await this.identity.robotById(row.subject_id);
      return r ? robotLogin(r.namespace, r.name) : `#${row.subject_id}`;
    }
    return (await this.identity.listGroups()).find((g) => g.id === row.subject_id)?.name ?? `#${row.subject_id}`;
  }

  private publicBinding(row: RoleBindingRow, subjectName: string): PublicRoleBinding {
    return { name: row.name, namespace: row.namespace, role: row.role, subject: { kind: row.subject_kind, name: subjectName }, created_at: iso(row.created_at)! };
  }
}

function namespaceName(value: string): string {
  try {
    return parseRepositoryName(value);
  } catch (err) {
    if (err instanceof ReferenceFormatError) throw invalid(err.message.replace('repository name', 'namespace'));
    throw err;
  }
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > 1024) throw invalid(`password must be ${MIN_PASSWORD_LENGTH} to 1024 characters`);
}

function publicUser(u: UserRow): PublicUser {
  return { username: u.username, email: u.email, disabled: u.disabled === 1, created_at: iso(u.created_at)! };
}

/** Validated, deduplicated, in the canonical order. */
function tokenScopes(asked: readonly string[]): TokenScope[] {
  const bad = asked.filter((s) => !isTokenScope(s));
  if (asked.length === 0 || bad.length > 0) throw invalid(`scopes must be some of ${TOKEN_SCOPES.join(', ')}${bad.length ? ` (not ${bad.join(', ').slice(0, 100)})` : ''}`);
  return TOKEN_SCOPES.filter((s) => asked.includes(s));
}

function publicToken(t: Omit<AuthTokenRow, 'user_id' | 'secret_hash'>): PublicToken {
  return {
    id: t.id,
    name: t.name,
    scopes: parseTokenScopes(t.scopes),
    parent: t.parent_id,
    created_at: iso(t.created_at)!,
    expires_at: iso(t.expires_at),
    last_used_at: iso(t.last_used_at),
    revoked: t.revoked_at !== null,
  };
}

function publicRobot(r: RobotRow): PublicRobot {
  return { login: robotLogin(r.namespace, r.name), namespace: r.namespace, name: r.name, description: r.description, created_at: iso(r.created_at)!, expires_at: iso(r.expires_at) };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(Number(ms)).toISOString();
}

const invalid = (m: string) => new RegistryError('INVALID_ARGUMENT', m);
const notFound = (m: string) => new RegistryError('NOT_FOUND', m);
const conflict = (m: string) => new RegistryError('CONFLICT', m);
const denied = (m: string) => new RegistryError('DENIED', m);
