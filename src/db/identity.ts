// Typed queries for identities and access: users, auth tokens, robots,
// groups, organizations, projects, roles, role bindings, signing keys and
// the audit log.
import type { Kysely, Selectable } from 'kysely';
import { engineOf } from './connect.js';
import { LOCK_KIND, lockName } from './row-locks.js';
import type { AuthTokensTable, Database, RobotsTable, RoleBindingsTable, UsersTable } from './schema.js';

export type UserRow = Selectable<UsersTable>;
export type AuthTokenRow = Selectable<AuthTokensTable>;
export type RobotRow = Selectable<RobotsTable>;
export type RoleBindingRow = Selectable<RoleBindingsTable>;

export interface RoleRow {
  name: string;
  verbs: string;
  description: string | null;
  builtin: number;
}

export interface AuditEntry {
  at: number;
  principal: string;
  action: string;
  resource: string;
  result: 'allowed' | 'denied' | 'failed';
  remote_addr: string | null;
  detail: string | null;
  /** How many identical failures this row stands for (1 for single entries). */
  count?: number;
}

export interface AuditQuery {
  since?: number;
  until?: number;
  principal?: string;
  limit: number;
  /** Entries with an id below this (paging backwards in time). */
  before?: number;
}

export class IdentityStore {
  constructor(readonly db: Kysely<Database>) {}

  // --- users ---------------------------------------------------------------

  async createUser(username: string, passwordHash: string | null, email: string | null): Promise<UserRow> {
    const now = Date.now();
    const r = await this.db.insertInto('users').values({ username, password_hash: passwordHash, email, disabled: 0, created_at: now }).returning('id').executeTakeFirstOrThrow();
    return { id: r.id, username, password_hash: passwordHash, email, disabled: 0, created_at: now, credential_epoch: 0 };
  }

  async userByName(username: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  }

  async userById(id: number): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async listUsers(): Promise<UserRow[]> {
    return this.db.selectFrom('users').selectAll().orderBy('username').execute();
  }

  async countUsers(): Promise<number> {
    const r = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Disabling also counts up credential_epoch, which ends the bearer and refresh tokens issued before. */
  async updateUser(id: number, changes: { password_hash?: string; email?: string | null; disabled?: number }): Promise<void> {
    if (Object.keys(changes).length === 0) return;
    await this.db
      .updateTable('users')
      .set((eb) => (changes.disabled === 1 ? { ...changes, credential_epoch: eb('credential_epoch', '+', 1) } : changes))
      .where('id', '=', id)
      .execute();
  }

  async deleteUser(id: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('role_bindings').where('subject_kind', '=', 'user').where('subject_id', '=', id).execute();
      await trx.deleteFrom('auth_tokens').where('user_id', '=', id).execute();
      await trx.deleteFrom('group_members').where('user_id', '=', id).execute();
      await trx.deleteFrom('organization_members').where('user_id', '=', id).execute();
      const r = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  // --- personal auth tokens --------------------------------------------------

  /** False (and nothing stored) when the parent token was revoked meanwhile. */
  async createAuthToken(row: Omit<AuthTokenRow, 'last_used_at' | 'revoked_at'>): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if (row.parent_id !== null) {
        // On PostgreSQL the parent row stays locked until the child is in, so
        // a revocation running beside this waits and then finds the child
        // (SQLite runs one writing transaction at a time anyway).
        const query = trx.selectFrom('auth_tokens').select('revoked_at').where('id', '=', row.parent_id);
        const parent = await (engineOf(this.db) === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
        if (!parent || parent.revoked_at !== null) return false;
      }
      await trx.insertInto('auth_tokens').values({ ...row, last_used_at: null, revoked_at: null }).execute();
      return true;
    });
  }

  async authTokensOf(userId: number): Promise<AuthTokenRow[]> {
    return this.db.selectFrom('auth_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
  }

  async authTokenById(id: string): Promise<AuthTokenRow | undefined> {
    return this.db.selectFrom('auth_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async touchAuthToken(id: string, at: number): Promise<void> {
    await this.db.updateTable('auth_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  /** Revokes the token and every token created with it, and with those, and so on. */
  async revokeAuthToken(id: string, at: number): Promise<boolean> {
    return (await this.revokeWithDescendants([id], at)).includes(id);
  }

  /** Revokes every token of a user (a password reset that asks for it) and their descendants; returns how many. */
  /**
   * Revokes the user's auth tokens and counts up credential_epoch, which
   * also ends the bearer and refresh (identity) tokens of password sign-ins.
   */
  async revokeAuthTokensOf(userId: number, at: number): Promise<number> {
    await this.db.updateTable('users').set((eb) => ({ credential_epoch: eb('credential_epoch', '+', 1) })).where('id', '=', userId).execute();
    const own = await this.db.selectFrom('auth_tokens').select('id').where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
    return (await this.revokeWithDescendants(own.map((t) => t.id), at)).length;
  }

  /** The ids actually revoked now (those not revoked before). */
  private async revokeWithDescendants(ids: string[], at: number): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      const revoked: string[] = [];
      let level = ids;
      while (level.length > 0) {
        const live = await trx.selectFrom('auth_tokens').select('id').where('id', 'in', level).where('revoked_at', 'is', null).execute();
        const liveIds = live.map((t) => t.id);
        if (liveIds.length > 0) await trx.updateTable('auth_tokens').set({ revoked_at: at }).where('id', 'in', liveIds).execute();
        revoked.push(...liveIds);
        // Children of a token revoked earlier were revoked with it; only the new ones need a look.
        level = liveIds.length === 0 ? [] : (await trx.selectFrom('auth_tokens').select('id').where('parent_id', 'in', liveIds).execute()).map((t) => t.id);
      }
      return revoked;
    });
  }

  // --- robots ------------------------------------------------------------------

  async createRobot(row: Omit<RobotRow, 'id' | 'disabled'>): Promise<RobotRow> {
    const r = await this.db.insertInto('robots').values({ ...row, disabled: 0 }).returning('id').executeTakeFirstOrThrow();
    return { ...row, id: r.id, disabled: 0 };
  }

  async robotByName(namespace: string, name: string): Promise<RobotRow | undefined> {
    return this.db.selectFrom('robots').selectAll().where('namespace', '=', namespace).where('name', '=', name).executeTakeFirst();
  }

  async robotById(id: number): Promise<RobotRow | undefined> {
    return this.db.selectFrom('robots').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async listRobots(namespace?: string): Promise<RobotRow[]> {
    let q = this.db.selectFrom('robots').selectAll().orderBy('namespace').orderBy('name');
    if (namespace !== undefined) q = q.where('namespace', '=', namespace);
    return q.execute();
  }

  async deleteRobot(id: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('role_bindings').where('subject_kind', '=', 'robot').where('subject_id', '=', id).execute();
      const r = await trx.deleteFrom('robots').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  // --- groups ------------------------------------------------------------------

  async createGroup(name: string): Promise<number> {
    const r = await this.db.insertInto('groups').values({ name, created_at: Date.now() }).returning('id').executeTakeFirstOrThrow();
    return r.id;
  }

  async groupByName(name: string): Promise<{ id: number; name: string } | undefined> {
    return this.db.selectFrom('groups').select(['id', 'name']).where('name', '=', name).executeTakeFirst();
  }

  async listGroups(): Promise<{ id: number; name: string; members: string[] }[]> {
    const groups = await this.db.selectFrom('groups').select(['id', 'name']).orderBy('name').execute();
    const members = await this.db
      .selectFrom('group_members as gm')
      .innerJoin('users as u', 'u.id', 'gm.user_id')
      .select(['gm.group_id', 'u.username'])
      .orderBy('u.username')
      .execute();
    return groups.map((g) => ({ ...g, members: members.filter((m) => m.group_id === g.id).map((m) => m.username) }));
  }

  async addGroupMember(groupId: number, userId: number): Promise<void> {
    await this.db.insertInto('group_members').values({ group_id: groupId, user_id: userId }).onConflict((oc) => oc.doNothing()).execute();
  }

  async removeGroupMember(groupId: number, userId: number): Promise<boolean> {
    const r = await this.db.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async groupsOf(userId: number): Promise<number[]> {
    const rows = await this.db.selectFrom('group_members').select('group_id').where('user_id', '=', userId).execute();
    return rows.map((r) => r.group_id);
  }

  async deleteGroup(id: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('role_bindings').where('subject_kind', '=', 'group').where('subject_id', '=', id).execute();
      await trx.deleteFrom('group_members').where('group_id', '=', id).execute();
      const r = await trx.deleteFrom('groups').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  // --- organizations and projects --------------------------------------------

  async createOrganization(name: string): Promise<void> {
    await this.db.insertInto('organizations').values({ name, created_at: Date.now() }).execute();
  }

  async organizationExists(name: string): Promise<boolean> {
    return (await this.db.selectFrom('organizations').select('name').where('name', '=', name).executeTakeFirst()) !== undefined;
  }

  async listOrganizations(): Promise<{ name: string; created_at: number; members: string[] }[]> {
    const orgs = await this.db.selectFrom('organizations').selectAll().orderBy('name').execute();
    const members = await this.db
      .selectFrom('organization_members as om')
      .innerJoin('users as u', 'u.id', 'om.user_id')
      .select(['om.organization', 'u.username'])
      .orderBy('u.username')
      .execute();
    return orgs.map((o) => ({ ...o, members: members.filter((m) => m.organization === o.name).map((m) => m.username) }));
  }

  async addOrganizationMember(organization: string, userId: number): Promise<void> {
    await this.db.insertInto('organization_members').values({ organization, user_id: userId }).onConflict((oc) => oc.doNothing()).execute();
  }

  async removeOrganizationMember(organization: string, userId: number): Promise<boolean> {
    const r = await this.db.deleteFrom('organization_members').where('organization', '=', organization).where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async isOrganizationMember(organization: string, userId: number): Promise<boolean> {
    const r = await this.db.selectFrom('organization_members').select('user_id').where('organization', '=', organization).where('user_id', '=', userId).executeTakeFirst();
    return r !== undefined;
  }

  async deleteOrganization(name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('organization_members').where('organization', '=', name).execute();
      const r = await trx.deleteFrom('organizations').where('name', '=', name).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async createProject(name: string, isPublic: boolean): Promise<void> {
    await this.db.insertInto('projects').values({ name, public: isPublic ? 1 : 0, created_at: Date.now() }).execute();
  }

  async updateProject(name: string, isPublic: boolean): Promise<boolean> {
    const r = await this.db.updateTable('projects').set({ public: isPublic ? 1 : 0 }).where('name', '=', name).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async listProjects(): Promise<{ name: string; public: number; created_at: number }[]> {
    return this.db.selectFrom('projects').selectAll().orderBy('name').execute();
  }

  async deleteProject(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('projects').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** The public projects among `namespaces` (all of them when absent). */
  async publicProjects(namespaces?: string[]): Promise<string[]> {
    if (namespaces !== undefined && namespaces.length === 0) return [];
    let q = this.db.selectFrom('projects').select('name').where('public', '=', 1);
    if (namespaces !== undefined) q = q.where('name', 'in', namespaces);
    return (await q.execute()).map((r) => r.name);
  }

  // --- roles and bindings ------------------------------------------------------

  async upsertRole(name: string, verbs: string[], description: string | null, builtin: boolean): Promise<void> {
    await this.db
      .insertInto('roles')
      .values({ name, verbs: verbs.join(' '), description, builtin: builtin ? 1 : 0, created_at: Date.now() })
      .onConflict((oc) => oc.column('name').doUpdateSet({ verbs: verbs.join(' '), description, builtin: builtin ? 1 : 0 }))
      .execute();
  }

  async role(name: string): Promise<RoleRow | undefined> {
    return this.db.selectFrom('roles').select(['name', 'verbs', 'description', 'builtin']).where('name', '=', name).executeTakeFirst();
  }

  async listRoles(): Promise<RoleRow[]> {
    return this.db.selectFrom('roles').select(['name', 'verbs', 'description', 'builtin']).orderBy('builtin', 'desc').orderBy('name').execute();
  }

  async deleteRole(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('roles').where('name', '=', name).where('builtin', '=', 0).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async roleInUse(name: string): Promise<boolean> {
    return (await this.db.selectFrom('role_bindings').select('id').where('role', '=', name).executeTakeFirst()) !== undefined;
  }

  async createRoleBinding(row: Omit<RoleBindingRow, 'id' | 'created_at'>): Promise<RoleBindingRow> {
    const created_at = Date.now();
    const r = await this.db.insertInto('role_bindings').values({ ...row, created_at }).returning('id').executeTakeFirstOrThrow();
    return { ...row, id: r.id, created_at };
  }

  async listRoleBindings(namespace?: string): Promise<RoleBindingRow[]> {
    let q = this.db.selectFrom('role_bindings').selectAll().orderBy('namespace').orderBy('name');
    if (namespace !== undefined) q = q.where('namespace', '=', namespace);
    return q.execute();
  }

  async deleteRoleBinding(namespace: string, name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('role_bindings').where('namespace', '=', namespace).where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** The verbs granted to any of `subjects`, per namespace bound at (only `namespaces`, when given). */
  async grantedVerbs(subjects: { kind: string; ids: number[] }[], namespaces?: string[]): Promise<{ namespace: string; verbs: string[] }[]> {
    const wanted = subjects.filter((s) => s.ids.length > 0);
    if (wanted.length === 0 || (namespaces !== undefined && namespaces.length === 0)) return [];
    let q = this.db
      .selectFrom('role_bindings as b')
      .innerJoin('roles as r', 'r.name', 'b.role')
      .select(['b.namespace', 'r.verbs'])
      .where((eb) => eb.or(wanted.map((s) => eb.and([eb('b.subject_kind', '=', s.kind), eb('b.subject_id', 'in', s.ids)]))));
    if (namespaces !== undefined) q = q.where('b.namespace', 'in', namespaces);
    return (await q.execute()).map((r) => ({ namespace: r.namespace, verbs: r.verbs.split(' ') }));
  }

  // --- JWT signing keys --------------------------------------------------------

  async jwtKeys(): Promise<{ kid: string; public_jwk: string; private_jwk_encrypted: string; created_at: number }[]> {
    return this.db.selectFrom('jwt_keys').selectAll().orderBy('created_at', 'desc').orderBy('kid', 'desc').execute();
  }

  async addJwtKey(kid: string, publicJwk: string, privateJwkEncrypted: string): Promise<void> {
    await this.db.insertInto('jwt_keys').values({ kid, public_jwk: publicJwk, private_jwk_encrypted: privateJwkEncrypted, created_at: Date.now() }).onConflict((oc) => oc.doNothing()).execute();
  }

  // --- audit log -----------------------------------------------------------------

  /**
   * Appends an entry. A denial or failure that repeats one already logged
   * this minute (same principal, address, action, result and detail, e.g.
   * the reason) adds to that row's count and moves its time to the latest
   * instead: a flood of bad credentials is one row a minute.
   */
  async appendAudit(entry: AuditEntry): Promise<void> {
    if (entry.result === 'allowed') {
      await this.db.insertInto('audit_log').values(entry).execute();
      return;
    }
    // Look and write under one lock, so that racing failures (other
    // processes, other nodes) add to one row instead of each making its own.
    await this.db.transaction().execute(async (trx) => {
      await lockName(trx, LOCK_KIND.auditRow, `${entry.principal}\n${entry.action}\n${entry.remote_addr ?? ''}`);
      const minute = entry.at - (entry.at % 60_000);
      const row = await trx
        .selectFrom('audit_log')
        .select('id')
        .where('principal', '=', entry.principal)
        .where('at', '>=', minute)
        .where('at', '<', minute + 60_000)
        .where('remote_addr', entry.remote_addr === null ? 'is' : '=', entry.remote_addr)
        .where('action', '=', entry.action)
        .where('result', '=', entry.result)
        .where('detail', entry.detail === null ? 'is' : '=', entry.detail)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (row) await trx.updateTable('audit_log').set((eb) => ({ count: eb('count', '+', 1), at: entry.at })).where('id', '=', row.id).execute();
      else await trx.insertInto('audit_log').values(entry).execute();
    });
  }

  /** Deletes entries older than `before` (the retention); returns how many. */
  async pruneAudit(before: number): Promise<number> {
    const r = await this.db.deleteFrom('audit_log').where('at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async queryAudit(q: AuditQuery): Promise<(AuditEntry & { id: number })[]> {
    let query = this.db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(q.limit);
    if (q.since !== undefined) query = query.where('at', '>=', q.since);
    if (q.until !== undefined) query = query.where('at', '<', q.until);
    if (q.principal !== undefined) query = query.where('principal', '=', q.principal);
    if (q.before !== undefined) query = query.where('id', '<', q.before);
    return (await query.execute()) as (AuditEntry & { id: number })[];
  }
}
