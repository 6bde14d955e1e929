// The admin commands over the management API: noun first
// (`hatoba user create`, `hatoba project set-public`) and kubectl-shaped
// (`hatoba create rolebinding`, `hatoba get rolebindings`, `hatoba delete ...`).
import { Command, Option } from 'commander';
import type { SubjectKind, TokenScope } from '../../client/management-client.js';
import { DEFAULT_TOKEN_SCOPES, TOKEN_SCOPES } from '../../formats/management-api.js';
import { saveCredentials } from '../../credentials/credentials-for.js';
import { DURATION_FORMS, DurationError, parseDuration } from '../../formats/duration.js';
import { expiryDays, expiryOptions, type ExpiryOptions } from '../duration-flags.js';
import { CliError } from '../errors.js';
import { NAMED_OUTPUT_FORMATS, OUTPUT_FORMATS, printDocument, printList, printOne, type NamedOutputFormat } from '../output.js';
import { newPassword, passwordOptions } from '../prompt.js';
import { openSession, type ServerOptions } from '../session.js';
import { auditColumns, auditName, getOne, groups, kindByName, nameOf, organizations, projects, roleBindings, roles, robots, tokens, users, type Kind, type Scope } from './resources.js';

type Opts = ServerOptions & { output?: NamedOutputFormat } & Record<string, unknown>;

/** Adds --server and --insecure. */
function serverOptions(cmd: Command): Command {
  return cmd
    .option('--server <server>', 'registry to manage (default: $HATOBA_SERVER, else the last one logged in to)')
    .option('--insecure', 'use plain HTTP to the server');
}

/** -o table|json|yaml|name; commands that print a secret once offer no `name` (the secret must reach stdout). */
function outputOption(cmd: Command, formats: readonly string[] = NAMED_OUTPUT_FORMATS): Command {
  return cmd.addOption(new Option('-o, --output <format>', formats.includes('name') ? 'output format (name: kind/name per line)' : 'output format').choices(formats).default('table'));
}

/** -A: every namespace, as kubectl's --all-namespaces; refused beside -n. */
function allNamespacesOption(cmd: Command): Command {
  return cmd.option('-A, --all-namespaces', 'every namespace (the default without -n)');
}

/** The namespace a listing is limited to: -n, or none for -A (or neither). */
function listingNamespace(opts: { namespace?: string; allNamespaces?: boolean }): string | undefined {
  if (opts.allNamespaces && opts.namespace !== undefined) throw new CliError('-A (all namespaces) and -n NAMESPACE contradict each other', 'give one of them');
  return opts.allNamespaces ? undefined : opts.namespace;
}

function namespaceOption(cmd: Command, description = 'namespace (organization or project); without it, the instance'): Command {
  return cmd.option('-n, --namespace <namespace>', description);
}

/** A sub-command that talks to the server. */
function sub(parent: Command, name: string, description: string): Command {
  return serverOptions(parent.command(name).description(description));
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];
}

function tokenScopes(value: string, previous: TokenScope[] = []): TokenScope[] {
  const asked = collect(value);
  const bad = asked.filter((s) => !(TOKEN_SCOPES as readonly string[]).includes(s));
  if (bad.length > 0 || asked.length === 0) throw new CliError(`"${value}" is not a list of token scopes`, `use some of ${TOKEN_SCOPES.join(', ')}, e.g. --scope pull,push`);
  return [...new Set([...previous, ...(asked as TokenScope[])])];
}

/** What `create` prints: "kind/name created" (table), "kind/name" (-o name), or the object. */
function printCreated(kind: string, name: string, created: unknown, opts: Opts, verb = 'created'): void {
  const f = format(opts);
  if (f === 'name') process.stdout.write(`${kind}/${name}\n`);
  else if (f !== 'table') printDocument(created, f);
  else done(kind, name, verb);
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`"${value}" is not a whole number above 0`);
  return n;
}

/** Prints "kind/name verb", as kubectl does. */
function done(kind: string, name: string, verb: string): void {
  process.stdout.write(`${kind}/${name} ${verb}\n`);
}

function format(opts: Opts): NamedOutputFormat {
  return opts.output ?? 'table';
}

/** `get KIND [NAME]`: the list, or one. */
async function show<T>(kind: Kind<T>, name: string | undefined, opts: Opts, scope: Scope = {}): Promise<void> {
  const session = await openSession(opts);
  if (name !== undefined) return printOne(await getOne(kind, session, name, scope), kind.columns, format(opts), nameOf(kind));
  printList(await kind.list(session, scope), kind.columns, format(opts), kind.plural, nameOf(kind));
}

async function remove<T>(kind: Kind<T>, name: string, opts: Opts, scope: Scope = {}): Promise<void> {
  const session = await openSession(opts);
  done(kind.name, await kind.remove(session, name, scope), 'deleted');
}

export function registerAdminCommands(program: Command): void {
  // --- users --------------------------------------------------------------------
  const user = program.command('user').description('manage users (instance admins; users may change their own password)');
  outputOption(passwordOptions(sub(user, 'create', 'create a user')))
    .argument('<username>')
    .option('--email <email>', 'e-mail address')
    .action(async (username: string, opts: Opts & { email?: string; password?: string; passwordStdin?: boolean }) => {
      const password = await newPassword(opts, false);
      const session = await openSession(opts);
      const created = await session.run((c) => c.createUser({ username, password, email: opts.email }));
      printCreated('user', created.username, created, opts);
      if (format(opts) !== 'table') return;
      if (password === undefined) process.stderr.write(`note: ${username} has no password yet; set one with: hatoba user passwd ${username}, or make a token with: hatoba token create NAME --user ${username}\n`);
    });
  outputOption(sub(user, 'get', 'list users, or show one'))
    .argument('[username]')
    .action(async (name: string | undefined, opts: Opts) => show(users, name, opts));
  sub(user, 'delete', 'delete a user (with their tokens and role bindings)')
    .argument('<username>')
    .action(async (name: string, opts: Opts) => remove(users, name, opts));
  passwordOptions(sub(user, 'passwd', 'change a password (your own by default)'))
    .argument('[username]', 'whose password (default: the signed-in user)')
    .option('--revoke-tokens', 'also revoke all auth tokens of the user (after a leak)')
    .action(async (name: string | undefined, opts: Opts & { password?: string; passwordStdin?: boolean; revokeTokens?: boolean }) => {
      const session = await openSession(opts);
      const username = name ?? session.username;
      const password = (await newPassword(opts, true))!;
      const self = username === session.username && (await session.run((c) => c.me())).via === 'password';
      await session.run((c) => c.updateUser(username, { password, ...(opts.revokeTokens ? { revokeTokens: true } : {}) }));
      if (self) {
        // The stored credentials would be refused from now on: keep them current.
        await saveCredentials(session.server, { username, password });
      }
      done('user', username, opts.revokeTokens ? 'password changed, auth tokens revoked' : 'password changed');
    });
  for (const [verb, disabled] of [['disable', true], ['enable', false]] as const) {
    sub(user, verb, disabled ? 'disable a user: sign-ins and tokens stop working' : 'enable a disabled user')
      .argument('<username>')
      .action(async (username: string, opts: Opts) => {
        const session = await openSession(opts);
        await session.run((c) => c.updateUser(username, { disabled }));
        done('user', username, `${verb}d`);
      });
  }

  // --- personal auth tokens --------------------------------------------------------
  const token = program.command('token').description('manage personal auth tokens (usable as passwords)');
  const userOption = (cmd: Command) => cmd.option('--user <username>', 'whose tokens (default: the signed-in user; others need admin)');
  expiryOptions(outputOption(userOption(sub(token, 'create', 'create an auth token; its secret is printed once, on stdout')), OUTPUT_FORMATS), 'expire after this long (default: never, or with the token you are signed in with)')
    .argument('<name>', 'what the token is for, e.g. ci or laptop')
    .option('--scope <scopes>', `what it may be used for, some of ${TOKEN_SCOPES.join(', ')} (default ${DEFAULT_TOKEN_SCOPES.join(',')}; api runs the management API)`, tokenScopes)
    .action(async (name: string, opts: Opts & ExpiryOptions & { user?: string; scope?: TokenScope[] }) => {
      const expiresInDays = expiryDays(opts);
      const session = await openSession(opts);
      const owner = opts.user ?? session.username;
      const created = await session.run((c) => c.createToken(owner, { name, expiresInDays, scopes: opts.scope }));
      if (format(opts) !== 'table') return printDocument(created, format(opts) as 'json');
      process.stderr.write(
        `token/${created.id} created for ${owner} (name ${created.name}, scopes ${created.scopes.join(',')}, ${created.expires_at ? `expires ${created.expires_at}` : 'does not expire'}).\n` +
          `Its secret follows; it is shown only now. Use it as the password of ${owner}, e.g. hatoba login ${session.server} -u ${owner} --password-stdin\n`,
      );
      process.stdout.write(`${created.secret}\n`);
    });
  outputOption(userOption(sub(token, 'get', 'list auth tokens (never their secrets), or show one')))
    .argument('[id-or-name]')
    .action(async (name: string | undefined, opts: Opts & { user?: string }) => show(tokens, name, opts, { user: opts.user }));
  userOption(sub(token, 'revoke', 'revoke an auth token'))
    .argument('<id-or-name>')
    .action(async (name: string, opts: Opts & { user?: string }) => {
      const session = await openSession(opts);
      done('token', await tokens.remove(session, name, { user: opts.user }), 'revoked');
    });

  // --- robots -----------------------------------------------------------------------
  const robot = program.command('robot').description('manage robot accounts (token-only accounts of a namespace)');
  expiryOptions(outputOption(namespaceOption(sub(robot, 'create', 'create a robot account; its secret is printed once, on stdout'), 'the namespace the robot belongs to (required)'), OUTPUT_FORMATS), 'expire after this long (default: never)')
    .argument('<name>')
    .option('--description <text>', 'what it is for')
    .action(async (name: string, opts: Opts & ExpiryOptions & { namespace?: string; description?: string }) => {
      if (!opts.namespace) throw new CliError('a robot belongs to a namespace', 'add -n NAMESPACE');
      const expiresInDays = expiryDays(opts);
      const session = await openSession(opts);
      const created = await session.run((c) => c.createRobot({ namespace: opts.namespace!, name, description: opts.description, expiresInDays }));
      if (format(opts) !== 'table') return printDocument(created, format(opts) as 'json');
      process.stderr.write(`robot/${created.login} created. Its secret follows; it is shown only now. Sign in as ${created.login} with it.\n`);
      process.stdout.write(`${created.secret}\n`);
    });
  allNamespacesOption(outputOption(namespaceOption(sub(robot, 'get', 'list robot accounts, or show one'), 'only this namespace')))
    .argument('[name]')
    .action(async (name: string | undefined, opts: Opts & { namespace?: string; allNamespaces?: boolean }) => show(robots, name, opts, { namespace: listingNamespace(opts) }));
  namespaceOption(sub(robot, 'delete', 'delete a robot account'), 'its namespace')
    .argument('<name>', 'NAME with -n, or robot$NAMESPACE+NAME')
    .action(async (name: string, opts: Opts & { namespace?: string }) => remove(robots, name, opts, { namespace: opts.namespace }));

  // --- groups and organizations -------------------------------------------------------
  for (const [noun, kind, what] of [
    ['group', groups, 'groups of users (subjects of role bindings)'],
    ['org', organizations, 'organizations (top-level namespaces with members)'],
  ] as const) {
    const cmd = program.command(noun).description(`manage ${what}`);
    if (noun === 'org') cmd.alias('organization');
    outputOption(sub(cmd, 'create', `create a${noun === 'org' ? 'n organization' : ' group'}`))
      .argument('<name>')
      .action(async (name: string, opts: Opts) => {
        const session = await openSession(opts);
        const created = await session.run((c) => (noun === 'group' ? c.createGroup(name) : c.createOrganization(name)));
        printCreated(noun, name, created, opts);
      });
    outputOption(sub(cmd, 'get', `list ${kind.plural}, or show one`))
      .argument('[name]')
      .action(async (name: string | undefined, opts: Opts) => show(kind as Kind<unknown>, name, opts));
    sub(cmd, 'delete', `delete a${noun === 'org' ? 'n organization' : ' group'}`)
      .argument('<name>')
      .action(async (name: string, opts: Opts) => remove(kind as Kind<unknown>, name, opts));
    for (const [verb, member] of [['add-member', true], ['remove-member', false]] as const) {
      sub(cmd, verb, `${member ? 'add users to' : 'remove users from'} a${noun === 'org' ? 'n organization' : ' group'}`)
        .argument('<name>')
        .argument('<usernames...>')
        .action(async (name: string, usernames: string[], opts: Opts) => {
          const session = await openSession(opts);
          for (const username of usernames) {
            await session.run((c) => (noun === 'group' ? c.setGroupMember(name, username, member) : c.setOrganizationMember(name, username, member)));
            process.stdout.write(`${noun}/${name} ${member ? 'added' : 'removed'} ${username}\n`);
          }
        });
    }
  }

  // --- projects ------------------------------------------------------------------------
  const project = program.command('project').description('manage projects (namespaces with settings, e.g. visibility)');
  outputOption(sub(project, 'create', 'create a project (private unless --public)'))
    .argument('<name>', 'e.g. system or myorg/project01')
    .option('--public', 'anyone may pull, without signing in')
    .action(async (name: string, opts: Opts & { public?: boolean }) => {
      const session = await openSession(opts);
      const created = await session.run((c) => c.createProject(name, Boolean(opts.public)));
      printCreated('project', name, created, opts, `created (${created.public ? 'public' : 'private'})`);
    });
  outputOption(sub(project, 'get', 'list projects, or show one'))
    .argument('[name]')
    .action(async (name: string | undefined, opts: Opts) => show(projects, name, opts));
  sub(project, 'delete', 'delete a project (its settings; repositories stay)')
    .argument('<name>')
    .action(async (name: string, opts: Opts) => remove(projects, name, opts));
  for (const [verb, isPublic] of [['set-public', true], ['set-private', false]] as const) {
    sub(project, verb, isPublic ? 'let anyone pull from a project' : 'allow pulls only to those with a role')
      .argument('<name>')
      .action(async (name: string, opts: Opts) => {
        const session = await openSession(opts);
        await session.run((c) => c.updateProject(name, { public: isPublic }));
        done('project', name, `is now ${isPublic ? 'public' : 'private'}`);
      });
  }

  // --- roles -----------------------------------------------------------------------------
  const role = program.command('role').description('manage roles (sets of verbs: pull, push, delete, sign, admin, read-audit)');
  outputOption(sub(role, 'create', 'create a custom role'))
    .argument('<name>')
    .option('--verb <verb>', 'a verb the role grants (repeat, or separate with commas)', collect)
    .option('--description <text>', 'what it is for')
    .action(async (name: string, opts: Opts & { verb?: string[]; description?: string }) => {
      if (!opts.verb?.length) throw new CliError('a role needs at least one verb', 'add e.g. --verb=pull --verb=push');
      const session = await openSession(opts);
      const created = await session.run((c) => c.createRole({ name, verbs: opts.verb!, description: opts.description }));
      printCreated('role', name, created, opts);
    });
  outputOption(sub(role, 'get', 'list roles, or show one'))
    .argument('[name]')
    .action(async (name: string | undefined, opts: Opts) => show(roles, name, opts));
  sub(role, 'delete', 'delete a custom role (not while bound)')
    .argument('<name>')
    .action(async (name: string, opts: Opts) => remove(roles, name, opts));

  // --- role bindings, kubectl-shaped ----------------------------------------------------------
  const create = program.command('create').description('create a resource (kubectl style): rolebinding');
  const rolebindingCreate = (cmd: Command) =>
    outputOption(namespaceOption(serverOptions(cmd), 'bind in this namespace (organization or project) and everything below it'))
      .option('--instance', 'bind on the whole instance (every namespace); asked for explicitly, as it grants the most')
      .argument('<name>')
      .requiredOption('--role <role>', 'the role to grant (see: hatoba get roles)')
      .option('--user <username>', 'grant it to this user')
      .option('--group <group>', 'grant it to this group')
      .option('--robot <robot>', 'grant it to this robot account (robot$NAMESPACE+NAME)')
      .action(async (name: string, opts: Opts & { role: string; namespace?: string; instance?: boolean; user?: string; group?: string; robot?: string }) => {
        const subjects = (['user', 'group', 'robot'] as const).filter((k) => opts[k] !== undefined);
        if (subjects.length !== 1) throw new CliError('give exactly one subject: --user=USER, --group=GROUP or --robot=ROBOT');
        const kind: SubjectKind = subjects[0]!;
        const namespace = bindingNamespace(name, opts);
        const session = await openSession(opts);
        const created = await session.run((c) => c.createRoleBinding({ name, namespace, role: opts.role, subject: { kind, name: opts[kind]! } }));
        printCreated('rolebinding', name, created, opts, `created (${created.role} for ${kind} ${created.subject.name} ${created.namespace ? `in ${created.namespace}` : 'on the whole instance'})`);
      });
  rolebindingCreate(create.command('rolebinding').alias('rb').description('bind a role to a user, group or robot, in a namespace (-n) or on the whole instance (--instance)'));

  const get = program.command('get').description('list resources, or show one (kubectl style)');
  allNamespacesOption(outputOption(namespaceOption(serverOptions(get), 'only this namespace (rolebindings, robots)')))
    .argument('<type>', 'users, tokens, robots, groups, orgs, projects, roles or rolebindings')
    .argument('[name]')
    .option('--user <username>', 'whose tokens (default: the signed-in user)')
    .action(async (type: string, name: string | undefined, opts: Opts & { namespace?: string; allNamespaces?: boolean; user?: string }) =>
      show(kindByName(type), name, opts, { namespace: listingNamespace(opts), user: opts.user }),
    );

  const del = program.command('delete').description('delete a resource (kubectl style)');
  namespaceOption(serverOptions(del), 'the namespace of the rolebinding or robot; without it, the instance')
    .argument('<type>', 'user, token, robot, group, org, project, role or rolebinding')
    .argument('<name>')
    .option('--user <username>', 'whose token (default: the signed-in user)')
    .action(async (type: string, name: string, opts: Opts & { namespace?: string; user?: string }) => {
      const kind = kindByName(type);
      const session = await openSession(opts);
      done(kind.name, await kind.remove(session, name, { namespace: opts.namespace, user: opts.user }), kind === tokens ? 'revoked' : 'deleted');
    });

  // The same, noun first, for symmetry with the other commands.
  const rolebinding = program.command('rolebinding').alias('rb').description('manage role bindings (also: hatoba create|get|delete rolebinding)');
  rolebindingCreate(rolebinding.command('create').description('bind a role to a user, group or robot'));
  allNamespacesOption(outputOption(namespaceOption(sub(rolebinding, 'get', 'list role bindings, or show one'), 'only this namespace')))
    .argument('[name]')
    .action(async (name: string | undefined, opts: Opts & { namespace?: string; allNamespaces?: boolean }) => show(roleBindings, name, opts, { namespace: listingNamespace(opts) }));
  namespaceOption(sub(rolebinding, 'delete', 'delete a role binding'))
    .argument('<name>')
    .action(async (name: string, opts: Opts & { namespace?: string }) => remove(roleBindings, name, opts, { namespace: opts.namespace }));

  // --- audit log ------------------------------------------------------------------------------
  outputOption(serverOptions(program.command('audit').description('show the audit log, newest first (needs read-audit)')))
    .option('--since <time>', 'from this time: ISO 8601, Unix milliseconds, or a duration ago such as 30m, 2h, 7d')
    .option('--until <time>', 'up to this time (same forms)')
    .option('--principal <name>', 'only what this user or robot did')
    .option('--limit <n>', 'at most this many entries (default 100, at most 1000)', positiveInt)
    .option('--before <id>', 'entries older than this one (paging)', positiveInt)
    .action(async (opts: Opts & { since?: string; until?: string; principal?: string; limit?: number; before?: number }) => {
      const session = await openSession(opts);
      const page = await session.run((c) =>
        c.audit({ since: when(opts.since, '--since'), until: when(opts.until, '--until'), principal: opts.principal, limit: opts.limit, before: opts.before }),
      );
      // JSON and YAML give the entries as one array (as every listing); where the next page starts goes to stderr.
      printList(page.entries, auditColumns, format(opts), 'audit entries', auditName);
      if (page.next !== undefined) process.stderr.write(`(more: add --before ${page.next})\n`);
    });
}

/** A duration ago (`30m`, `2h`, `7d`) as ISO 8601; ISO 8601 and Unix milliseconds are passed on as given. */
export function when(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value) || !Number.isNaN(Date.parse(value))) return value;
  try {
    return new Date(Date.now() - parseDuration(value)).toISOString();
  } catch (err) {
    if (!(err instanceof DurationError)) throw err;
    throw new CliError(`${flag} ${value}: not a time`, `use ISO 8601 (2026-01-31T12:00:00Z), Unix milliseconds, or a duration ago: ${DURATION_FORMS}`);
  }
}

/** The namespace of a new role binding: -n, or '' (the instance) only with --instance. */
function bindingNamespace(name: string, opts: { namespace?: string; instance?: boolean }): string {
  if (opts.instance && opts.namespace !== undefined) throw new CliError('-n NAMESPACE and --instance contradict each other', 'give -n to bind in a namespace, or --instance for the whole instance');
  if (opts.instance) return '';
  if (opts.namespace === undefined || opts.namespace === '') {
    // kubectl would bind in a default namespace; here the default would be
    // everything, so it is never taken silently.
    throw new CliError(
      `where should role binding ${name} apply? No -n NAMESPACE was given`,
      'add -n NAMESPACE to bind in a namespace (and everything below it), or --instance to bind on the whole instance',
    );
  }
  return opts.namespace;
}
