// The management REST API under /api/v1: users, auth tokens, robots,
// groups, organizations, projects, roles, role bindings and the audit log.
// JSON in and out; Basic credentials (password, auth token or robot
// secret) sent up front, or a bearer token for MANAGEMENT_API_SCOPE (what
// a client holding docker login's identity token gets); every decision
// through authorize(), every write and denial in the audit log.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { mayManageAccount, TOKEN_SCOPES, type Principal } from '../auth/principal.js';
import { VERBS, type Verb } from '../auth/verbs.js';
import { RegistryError } from '../formats/error-codes.js';
import { MANAGEMENT_API_SCOPE } from '../formats/management-api.js';
import type { AccessGuard } from './access.js';
import { BodyTooLargeError, hasBody, readLimited } from './request-body.js';

/** JSON bodies of the management API are small. */
export const API_BODY_LIMIT = 1024 * 1024;
/** At most this many audit entries per page. */
const AUDIT_PAGE_MAX = 1000;

const userInput = z.object({ username: z.string(), password: z.string().optional(), email: z.string().email().optional() }).strict();
const userChanges = z
  .object({ password: z.string().optional(), email: z.string().email().nullable().optional(), disabled: z.boolean().optional(), revokeTokens: z.boolean().optional() })
  .strict();
const tokenInput = z.object({ name: z.string(), expiresInDays: z.number().int().optional(), scopes: z.array(z.enum(TOKEN_SCOPES)).optional() }).strict();
const robotInput = z.object({ namespace: z.string(), name: z.string(), description: z.string().max(1000).optional(), expiresInDays: z.number().int().positive().optional() }).strict();
const nameInput = z.object({ name: z.string() }).strict();
const projectInput = z.object({ name: z.string(), public: z.boolean().default(false) }).strict();
const projectChanges = z.object({ public: z.boolean() }).strict();
const roleInput = z.object({ name: z.string(), verbs: z.array(z.string()), description: z.string().max(1000).optional() }).strict();
const bindingInput = z
  .object({
    name: z.string(),
    namespace: z.string().default(''),
    role: z.string(),
    subject: z.object({ kind: z.enum(['user', 'group', 'robot']), name: z.string() }).strict(),
  })
  .strict();

type Params = Record<string, string>;
type Query = Record<string, string | undefined>;

export interface ApiOptions {
  /** Origins (besides the registry's own) whose pages may call the API, e.g. a separate console. */
  allowedOrigins?: string[];
}

export function apiRoutes(app: FastifyInstance, guard: AccessGuard, options: ApiOptions = {}): void {
  // A plugin of its own, so that the hooks below apply to /api/v1 only.
  void app.register(async (api) => {
    api.addHook('onRequest', refuseForeignRequests(guard, options.allowedOrigins ?? []));
    managementRoutes(api, guard);
  });
}

/**
 * Browsers send a site's cached credentials along with forms another site
 * posts to us, and `text/plain` forms need no CORS preflight. So: a request
 * from a page of another origin is refused before anything is read, and a
 * body must be `application/json` (which a foreign page can only send
 * after a preflight we never answer) and at most API_BODY_LIMIT bytes.
 */
function refuseForeignRequests(guard: AccessGuard, allowed: string[]) {
  const allowedOrigins = new Set(allowed); // origins, normalised by the configuration
  return async (req: FastifyRequest) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(originOf(origin) ?? '') && originOf(origin) !== originOf(guard.baseUrl(req))) {
      await guard.identity.audit.record({ principal: 'unknown', action: 'api.origin', resource: req.url.split('?')[0]!.slice(0, 256), result: 'denied', remote: req.ip, detail: { origin: origin.slice(0, 256) } });
      throw new RegistryError('DENIED', 'requests from pages of other sites are not accepted here (see api_allowed_origins)');
    }
    if (!hasBody(req.raw)) return;
    const mediaType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (mediaType !== 'application/json') {
      throw new RegistryError('UNSUPPORTED', `the body must be application/json, not ${mediaType.slice(0, 100) || 'untyped'}`, undefined, 415);
    }
    if (Number(req.headers['content-length'] ?? 0) > API_BODY_LIMIT) throw bodyTooLarge();
  };
}

/** `scheme://host[:port]`, as browsers write an Origin; undefined for `null` or garbage. */
function originOf(url: string): string | undefined {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

function managementRoutes(app: FastifyInstance, guard: AccessGuard): void {
  const { accounts, audit, authorizer } = guard.identity;

  /** Requires `verb` on `resource` ('' = the instance); 401 without credentials, 403 without the right. */
  async function need(req: FastifyRequest, reply: FastifyReply, verb: Verb, resource: string): Promise<Principal> {
    const principal = await signedIn(req, reply);
    if (await authorizer.authorize(principal, verb, resource)) return principal;
    await audit.record({ principal, action: `api.${verb}`, resource: resource || '(instance)', result: 'denied', remote: req.ip, detail: { route: req.routeOptions.url } });
    throw new RegistryError('DENIED', `you need the ${verb} right on ${resource || 'the instance'} for this${principal.kind === 'user' && principal.via !== 'password' ? ' (and an auth token with a scope that allows it)' : ''}`);
  }

  /**
   * The caller, signed in with Basic credentials (password, auth token or
   * robot secret), or with a bearer token granted MANAGEMENT_API_SCOPE
   * (only token holders get one: its principal has token rights). Bearer
   * tokens without it, the anonymous one included, are scoped to
   * repositories and refused here. The 401's challenge is not `Basic`:
   * that would make browsers ask for a password and send it with every
   * later request, cross-site forms included. Clients send credentials up
   * front.
   */
  async function signedIn(req: FastifyRequest, reply: FastifyReply): Promise<Principal> {
    const auth = await guard.auth(req);
    const bearerForApi = auth.credentials === 'bearer' && grantsApi(auth.granted ?? []) && !(auth.principal.kind === 'user' && auth.principal.via === 'password');
    if ((auth.credentials === 'bearer' && !bearerForApi) || auth.principal.kind === 'anonymous') {
      reply.header('WWW-Authenticate', `Hatoba realm="${guard.service}"`);
      throw new RegistryError(
        'UNAUTHORIZED',
        auth.credentials === 'bearer'
          ? `the management API takes Basic credentials, or a bearer token for the scope ${scopeText(MANAGEMENT_API_SCOPE)}, not registry bearer tokens`
          : 'sign in first: send Basic credentials (a password, auth token or robot secret)',
      );
    }
    return auth.principal;
  }

  /** The signed-in user acting on their own account, or an instance admin. */
  async function selfOrAdmin(req: FastifyRequest, reply: FastifyReply, username: string): Promise<Principal> {
    const principal = await signedIn(req, reply);
    if (principal.kind === 'user' && principal.username === username) return principal;
    return need(req, reply, 'admin', '');
  }

  /**
   * Managing tokens and the e-mail, on one's own account or as an admin,
   * needs a password or an auth token with the `api` scope.
   */
  async function accountManager(req: FastifyRequest, reply: FastifyReply, username: string): Promise<Principal> {
    const principal = await selfOrAdmin(req, reply, username);
    await mayManage(req, principal, username);
    return principal;
  }

  async function mayManage(req: FastifyRequest, principal: Principal, username: string): Promise<void> {
    if (mayManageAccount(principal)) return;
    await audit.record({ principal, action: 'api.account', resource: username, result: 'denied', remote: req.ip, detail: { route: req.routeOptions.url } });
    throw new RegistryError('DENIED', 'managing auth tokens and the e-mail needs your password or an auth token with the api scope');
  }

  async function wrote(req: FastifyRequest, principal: Principal, action: string, resource: string, detail?: Record<string, unknown>) {
    await audit.record({ principal, action, resource, result: 'allowed', remote: req.ip, detail });
  }

  // --- who am I ------------------------------------------------------------

  app.get('/api/v1/me', async (req, reply) => ({ principal: describe(await signedIn(req, reply)) }));

  // --- users and their tokens --------------------------------------------------

  app.get('/api/v1/users', async (req, reply) => {
    await need(req, reply, 'admin', '');
    return { users: await accounts.listUsers() };
  });
  app.post('/api/v1/users', async (req, reply) => {
    const principal = await need(req, reply, 'admin', '');
    const input = await body(req, userInput);
    const user = await accounts.createUser(input);
    await wrote(req, principal, 'user.create', input.username);
    return reply.code(201).send(user);
  });
  app.get('/api/v1/users/:username', async (req, reply) => {
    const { username } = req.params as Params;
    await selfOrAdmin(req, reply, username!);
    return (await accounts.listUsers()).find((u) => u.username === username) ?? notFound(`no user ${username}`);
  });
  app.patch('/api/v1/users/:username', async (req, reply) => {
    const { username } = req.params as Params;
    const changes = await body(req, userChanges);
    // Users may change their own password and email; the rest is for admins.
    const principal = changes.disabled === undefined ? await selfOrAdmin(req, reply, username!) : await need(req, reply, 'admin', '');
    // A leaked auth or identity token must not be enough to take the account over.
    if (changes.password !== undefined && principal.kind === 'user' && principal.username === username && principal.via !== 'password') {
      await audit.record({ principal, action: 'api.account', resource: username!, result: 'denied', remote: req.ip, detail: { route: req.routeOptions.url, via: principal.via } });
      throw new RegistryError('DENIED', `changing your password needs your current password, not ${principal.via === 'identity-token' ? 'the identity token docker login stored' : 'an auth token'}: sign in with the password`);
    }
    // Nor to move the e-mail (where resets go) or to touch the tokens.
    if (changes.email !== undefined || changes.revokeTokens) await mayManage(req, principal, username!);
    const user = await accounts.updateUser(username!, changes);
    guard.identity.authenticator.forgetPasswords();
    await wrote(req, principal, 'user.update', username!, { fields: Object.keys(changes) });
    return user;
  });
  app.delete('/api/v1/users/:username', async (req, reply) => {
    const { username } = req.params as Params;
    const principal = await need(req, reply, 'admin', '');
    await accounts.deleteUser(username!);
    guard.identity.authenticator.forgetPasswords();
    await wrote(req, principal, 'user.delete', username!);
    return reply.code(204).send();
  });
  app.get('/api/v1/users/:username/tokens', async (req, reply) => {
    const { username } = req.params as Params;
    await accountManager(req, reply, username!);
    return { tokens: await accounts.listTokens(username!) };
  });
  app.post('/api/v1/users/:username/tokens', async (req, reply) => {
    const { username } = req.params as Params;
    const principal = await accountManager(req, reply, username!);
    const token = await accounts.createToken(username!, await body(req, tokenInput), principal);
    await wrote(req, principal, 'token.create', `${username}/${token.id}`, { name: token.name, scopes: token.scopes, parent: token.parent ?? undefined });
    return reply.code(201).header('Cache-Control', 'no-store').send(token);
  });
  app.delete('/api/v1/users/:username/tokens/:id', async (req, reply) => {
    const { username, id } = req.params as Params;
    const principal = await accountManager(req, reply, username!);
    await accounts.revokeToken(username!, id!);
    await wrote(req, principal, 'token.revoke', `${username}/${id}`);
    return reply.code(204).send();
  });

  // --- robots ------------------------------------------------------------------

  app.get('/api/v1/robots', async (req, reply) => {
    const { namespace } = queryOf(req);
    await need(req, reply, 'admin', namespace ?? '');
    return { robots: await accounts.listRobots(namespace) };
  });
  app.post('/api/v1/robots', async (req, reply) => {
    const input = await body(req, robotInput);
    const principal = await need(req, reply, 'admin', input.namespace);
    const robot = await accounts.createRobot(input);
    await wrote(req, principal, 'robot.create', robot.login);
    return reply.code(201).header('Cache-Control', 'no-store').send(robot);
  });
  app.delete('/api/v1/robots', async (req, reply) => {
    const { namespace, name } = queryOf(req);
    if (!namespace || !name) throw new RegistryError('INVALID_ARGUMENT', 'namespace and name query parameters are required');
    const principal = await need(req, reply, 'admin', namespace);
    await accounts.deleteRobot(namespace, name);
    await wrote(req, principal, 'robot.delete', `${namespace}+${name}`);
    return reply.code(204).send();
  });

  // --- groups ------------------------------------------------------------------

  app.get('/api/v1/groups', async (req, reply) => {
    await need(req, reply, 'admin', '');
    return { groups: (await accounts.listGroups()).map(({ name, members }) => ({ name, members })) };
  });
  app.post('/api/v1/groups', async (req, reply) => {
    const principal = await need(req, reply, 'admin', '');
    const { name } = await body(req, nameInput);
    await accounts.createGroup(name);
    await wrote(req, principal, 'group.create', name);
    return reply.code(201).send({ name, members: [] });
  });
  app.delete('/api/v1/groups/:name', async (req, reply) => {
    const { name } = req.params as Params;
    const principal = await need(req, reply, 'admin', '');
    await accounts.deleteGroup(name!);
    await wrote(req, principal, 'group.delete', name!);
    return reply.code(204).send();
  });
  for (const [method, member] of [['PUT', true], ['DELETE', false]] as const) {
    app.route({
      method,
      url: '/api/v1/groups/:name/members/:username',
      handler: async (req, reply) => {
        const { name, username } = req.params as Params;
        const principal = await need(req, reply, 'admin', '');
        await accounts.setGroupMember(name!, username!, member);
        await wrote(req, principal, member ? 'group.member.add' : 'group.member.remove', `${name}/${username}`);
        return reply.code(204).send();
      },
    });
  }

  // --- organizations -----------------------------------------------------------

  app.get('/api/v1/organizations', async (req, reply) => {
    await need(req, reply, 'admin', '');
    return { organizations: (await accounts.listOrganizations()).map((o) => ({ name: o.name, members: o.members, created_at: new Date(Number(o.created_at)).toISOString() })) };
  });
  app.post('/api/v1/organizations', async (req, reply) => {
    const principal = await need(req, reply, 'admin', '');
    const { name } = await body(req, nameInput);
    await accounts.createOrganization(name);
    await wrote(req, principal, 'organization.create', name);
    return reply.code(201).send({ name, members: [] });
  });
  app.delete('/api/v1/organizations/:name', async (req, reply) => {
    const { name } = req.params as Params;
    const principal = await need(req, reply, 'admin', '');
    await accounts.deleteOrganization(name!);
    await wrote(req, principal, 'organization.delete', name!);
    return reply.code(204).send();
  });
  for (const [method, member] of [['PUT', true], ['DELETE', false]] as const) {
    app.route({
      method,
      url: '/api/v1/organizations/:name/members/:username',
      handler: async (req, reply) => {
        const { name, username } = req.params as Params;
        const principal = await need(req, reply, 'admin', name!);
        await accounts.setOrganizationMember(name!, username!, member);
        await wrote(req, principal, member ? 'organization.member.add' : 'organization.member.remove', `${name}/${username}`);
        return reply.code(204).send();
      },
    });
  }

  // --- projects (names contain '/', so they are the tail of the path) -----------

  // Public projects and those the caller holds any right in; nobody learns other tenants' private names.
  app.get('/api/v1/projects', async (req, reply) => {
    const may = await authorizer.decider(await signedIn(req, reply));
    return { projects: (await accounts.listProjects()).filter((p) => p.public || VERBS.some((v) => may(v, p.name))) };
  });
  app.post('/api/v1/projects', async (req, reply) => {
    const input = await body(req, projectInput);
    const principal = await need(req, reply, 'admin', input.name);
    await accounts.createProject(input.name, input.public);
    await wrote(req, principal, 'project.create', input.name, { public: input.public });
    return reply.code(201).send({ name: input.name, public: input.public });
  });
  app.patch('/api/v1/projects/*', async (req, reply) => {
    const name = (req.params as Params)['*']!;
    const principal = await need(req, reply, 'admin', name);
    const changes = await body(req, projectChanges);
    await accounts.updateProject(name, changes.public);
    await wrote(req, principal, 'project.update', name, changes);
    return { name, public: changes.public };
  });
  app.delete('/api/v1/projects/*', async (req, reply) => {
    const name = (req.params as Params)['*']!;
    const principal = await need(req, reply, 'admin', name);
    await accounts.deleteProject(name);
    await wrote(req, principal, 'project.delete', name);
    return reply.code(204).send();
  });

  // --- roles and role bindings --------------------------------------------------

  app.get('/api/v1/roles', async (req, reply) => {
    await signedIn(req, reply);
    return { roles: await accounts.listRoles() };
  });
  app.post('/api/v1/roles', async (req, reply) => {
    const principal = await need(req, reply, 'admin', '');
    const input = await body(req, roleInput);
    await accounts.createRole(input);
    await wrote(req, principal, 'role.create', input.name, { verbs: input.verbs });
    return reply.code(201).send({ ...input, builtin: false });
  });
  app.delete('/api/v1/roles/:name', async (req, reply) => {
    const { name } = req.params as Params;
    const principal = await need(req, reply, 'admin', '');
    await accounts.deleteRole(name!);
    await wrote(req, principal, 'role.delete', name!);
    return reply.code(204).send();
  });
  app.get('/api/v1/rolebindings', async (req, reply) => {
    const { namespace } = queryOf(req);
    await need(req, reply, 'admin', namespace ?? '');
    return { rolebindings: await accounts.listRoleBindings(namespace) };
  });
  app.post('/api/v1/rolebindings', async (req, reply) => {
    const input = await body(req, bindingInput);
    const principal = await need(req, reply, 'admin', input.namespace);
    const binding = await accounts.createRoleBinding(input);
    await wrote(req, principal, 'rolebinding.create', `${input.namespace || '(instance)'}/${input.name}`, { role: input.role, subject: input.subject });
    return reply.code(201).send(binding);
  });
  app.delete('/api/v1/rolebindings', async (req, reply) => {
    const { namespace = '', name } = queryOf(req);
    if (!name) throw new RegistryError('INVALID_ARGUMENT', 'the name query parameter is required (and namespace, unless bound at the instance)');
    const principal = await need(req, reply, 'admin', namespace);
    await accounts.deleteRoleBinding(namespace, name);
    await wrote(req, principal, 'rolebinding.delete', `${namespace || '(instance)'}/${name}`);
    return reply.code(204).send();
  });

  // --- audit log and keys -----------------------------------------------------------

  app.get('/api/v1/audit', async (req, reply) => {
    await need(req, reply, 'read-audit', '');
    const q = queryOf(req);
    const limit = q.limit === undefined ? 100 : count(q.limit, 'limit', AUDIT_PAGE_MAX);
    const rows = await guard.identity.store.queryAudit({
      since: time(q.since, 'since'),
      until: time(q.until, 'until'),
      principal: q.principal,
      before: q.before === undefined ? undefined : count(q.before, 'before', Number.MAX_SAFE_INTEGER),
      limit: limit + 1,
    });
    // One row more than asked for tells whether another page exists.
    const entries = rows.slice(0, limit);
    return {
      entries: entries.map((e) => ({ ...e, at: new Date(Number(e.at)).toISOString(), detail: e.detail ? JSON.parse(e.detail) : undefined })),
      next: rows.length > limit ? entries.at(-1)!.id : undefined,
    };
  });
  app.get('/api/v1/jwks', async () => guard.identity.tokens.jwks());
}

/** The JSON body (its media type was checked by refuseForeignRequests); no body reads as `{}`. */
async function body<T extends z.ZodType>(req: FastifyRequest, schema: T): Promise<z.infer<T>> {
  let json: unknown;
  try {
    json = JSON.parse((await readLimited(req.raw, API_BODY_LIMIT)).toString('utf8') || '{}');
  } catch (err) {
    if (err instanceof SyntaxError) throw new RegistryError('INVALID_ARGUMENT', `the body is not JSON: ${err.message}`);
    if (err instanceof BodyTooLargeError) throw bodyTooLarge();
    throw err;
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    throw new RegistryError('INVALID_ARGUMENT', result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  }
  return result.data;
}

function bodyTooLarge(): RegistryError {
  return new RegistryError('INVALID_ARGUMENT', `the body is larger than ${API_BODY_LIMIT} bytes`, undefined, 413);
}

/** The query, each parameter at most once (`?a=1&a=2` is a 400, not an array that reaches the database). */
function queryOf(req: FastifyRequest): Query {
  const out: Query = {};
  for (const [name, value] of Object.entries(req.query as Record<string, string | string[] | undefined>)) {
    if (Array.isArray(value)) throw new RegistryError('INVALID_ARGUMENT', `the query parameter ${name.slice(0, 64)} is given more than once`);
    out[name] = value;
  }
  return out;
}

/** A whole number from 1 to `max`. */
function count(value: string, what: string, max: number): number {
  const n = /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= max)) throw new RegistryError('INVALID_ARGUMENT', `${what} must be a whole number from 1 to ${max}`);
  return n;
}

function time(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw new RegistryError('INVALID_ARGUMENT', `${what} must be an ISO 8601 time or Unix milliseconds`);
  return ms;
}

function notFound(message: string): never {
  throw new RegistryError('NOT_FOUND', message);
}

function grantsApi(granted: { type: string; name: string; actions: string[] }[]): boolean {
  return granted.some((a) => a.type === MANAGEMENT_API_SCOPE.type && a.name === MANAGEMENT_API_SCOPE.name && a.actions.includes('*'));
}

function scopeText(scope: { type: string; name: string; actions: readonly string[] }): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

function describe(p: Principal): Record<string, unknown> {
  if (p.kind === 'user') return { kind: 'user', username: p.username, via: p.via, ...(p.scopes ? { scopes: p.scopes } : {}) };
  if (p.kind === 'robot') return { kind: 'robot', namespace: p.namespace, name: p.name };
  return { kind: 'anonymous' };
}
