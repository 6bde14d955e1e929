// `hatoba login`, `hatoba logout` and `hatoba whoami`.
import { Option, type Command } from 'commander';
import { ManagementClient } from '../../client/management-client.js';
import { clientTls } from '../../client/trust.js';
import { dockerKey, parseServerAddress } from '../../client/server-address.js';
import { forgetServer, readState, rememberServer, writeState } from '../cli-state.js';
import { credentialsFor, eraseCredentials, saveCredentials, usernameOf } from '../../credentials/credentials-for.js';
import { identityTokenSubject } from '../../credentials/identity-token.js';
import { CliError, explain } from '../errors.js';
import { NAMED_OUTPUT_FORMATS, printDocument, type NamedOutputFormat } from '../output.js';
import { canPrompt, promptLine, promptSecret, readStdinSecret } from '../prompt.js';
import { openSession, resolveTarget, type ServerOptions } from '../session.js';

interface LoginOptions {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  insecure?: boolean;
}

export function registerLoginCommands(program: Command): void {
  program
    .command('login')
    .description('sign in to a registry and store the credentials where docker login would: the credential helper ~/.docker/config.json names for it, else its "auths"')
    .argument('<server>', 'registry as host[:port] or http(s)://host[:port] (plain HTTP by default only for loopback addresses)')
    .option('-u, --username <user>', 'user name (or <org>/<user>, or a robot login robot$<namespace>+<name>)')
    .option('-p, --password <password>', 'password or auth token (visible to other local users; prefer --password-stdin)')
    .option('--password-stdin', 'read the password or auth token from stdin')
    .option('--insecure', 'use plain HTTP (without a scheme in SERVER, HTTPS is used except for loopback addresses)')
    .action(async (server: string, opts: LoginOptions) => login(server, opts));

  program
    .command('logout')
    .description('remove the stored credentials of a registry (from its credential helper and the Docker config file)')
    .argument('[server]', 'registry (default: the last one logged in to)')
    .action(async (server: string | undefined) => logout(server));

  program
    .command('whoami')
    .description('show who the stored credentials sign in as')
    .option('--server <server>', 'registry (default: $HATOBA_SERVER or the last one logged in to)')
    .option('--insecure', 'use plain HTTP to the server')
    .addOption(new Option('-o, --output <format>', 'output format (table: one line; name: kind/name)').choices(NAMED_OUTPUT_FORMATS).default('table'))
    .action(async (opts: ServerOptions & { output: NamedOutputFormat }) => printIdentity(await whoami(opts), opts.output));
}

/** Who `hatoba whoami` found; `-o json` prints this object. */
interface Identity {
  kind: 'user' | 'robot' | 'anonymous';
  /** The name to sign in with: a user name, or a robot's login robot$NAMESPACE+NAME. */
  name: string;
  /** A robot's namespace: the only one it can act in. */
  namespace?: string;
  /** How the credentials sign in (a robot's secret is neither: left out). */
  via?: 'password' | 'token' | 'identity-token';
  /** Signed in with an auth token: its scopes. */
  scopes?: string[];
  server: string;
}

async function whoami(opts: ServerOptions): Promise<Identity> {
  const target = await resolveTarget(opts);
  if ('identityToken' in target.found.secret) {
    // docker login's refresh token: the token service says whose it is.
    try {
      const who = await identityTokenSubject(target.url, target.found.secret.identityToken, clientTls());
      const robot = /^robot\$(.+)\+[^+]+$/.exec(who);
      return { kind: robot ? 'robot' : 'user', name: who, ...(robot ? { namespace: robot[1]! } : {}), via: 'identity-token', server: target.server };
    } catch (err) {
      throw explain(err, { server: target.server, url: target.url, storedCredentials: true });
    }
  }
  const session = await openSession(opts);
  const me = await session.run((c) => c.me());
  const robot = me.kind === 'robot';
  return {
    kind: me.kind,
    name: robot ? `robot$${me.namespace}+${me.name}` : (me.username ?? me.kind),
    ...(robot && me.namespace !== undefined ? { namespace: me.namespace } : {}),
    ...(me.via ? { via: me.via } : {}),
    ...(me.scopes ? { scopes: me.scopes } : {}),
    server: session.server,
  };
}

function printIdentity(who: Identity, format: NamedOutputFormat): void {
  if (format === 'name') return void process.stdout.write(`${who.kind}/${who.name}\n`);
  if (format !== 'table') return printDocument(who, format);
  const how =
    who.via === 'identity-token' ? 'signed in with an identity token from docker login' : who.via === 'token' ? 'signed in with an auth token' : who.via === 'password' ? 'signed in with a password' : undefined;
  // The token service names the subject only, so an identity token's line has no kind (but a robot's namespace).
  const what = who.kind === 'robot' ? `robot of namespace ${who.namespace}, which is the only one it can act in` : who.via === 'identity-token' ? undefined : who.kind;
  process.stdout.write(`${who.name} (${[what, how].filter(Boolean).join(', ')}) at ${who.server}\n`);
}

async function login(server: string, opts: LoginOptions): Promise<void> {
  const address = parseServerAddress(server, { insecure: opts.insecure });
  if (opts.password !== undefined && opts.passwordStdin) throw new CliError('--password and --password-stdin are mutually exclusive');
  let username = opts.username;
  if (username === undefined) {
    if (opts.passwordStdin) throw new CliError('--password-stdin needs the user name too', `add -u USER`);
    if (!canPrompt()) throw new CliError('no user name given and no terminal to ask on', `add -u USER and --password-stdin`);
    const stored = await credentialsFor(address.key).catch(() => undefined);
    const previous = stored ? usernameOf(stored.secret) : undefined;
    username = (await promptLine(`Username${previous ? ` (${previous})` : ''}: `)).trim() || previous || '';
  }
  if (!username) throw new CliError('the user name is empty');

  let password: string;
  if (opts.passwordStdin) {
    password = await readStdinSecret('password');
  } else if (opts.password !== undefined) {
    process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    password = opts.password;
  } else if (canPrompt()) {
    password = await promptSecret('Password: ');
  } else {
    throw new CliError('no password given and no terminal to ask on', `pipe it in: printf '%s' "$PASSWORD" | hatoba login ${address.key} -u ${username} --password-stdin`);
  }
  if (password === '') throw new CliError('the password is empty');

  const client = new ManagementClient(address.url, { username, password }, { tls: clientTls() });
  try {
    await client.verifyCredentials();
  } catch (err) {
    throw explain(err, { server: address.key, url: address.url });
  }

  // Where docker login would put them: the server's helper, else "auths".
  const saved = await saveCredentials(address.key, { username, password });
  const state = await readState();
  rememberServer(state, address.key, address.url);
  await writeState(state);

  if (saved.source === 'helper') process.stderr.write(`hatoba: credentials stored in docker-credential-${saved.helper} (named for ${address.key} in ${saved.configFile})\n`);
  else process.stderr.write(`WARNING! Your password will be stored unencrypted in ${saved.configFile}.\nConfigure a credential helper to remove this warning: hatoba auth configure-docker ${address.key}\n`);
  process.stdout.write('Login Succeeded\n');
}

async function logout(server: string | undefined): Promise<void> {
  const state = await readState();
  const given = server ?? process.env.HATOBA_SERVER ?? state.current;
  if (!given) throw new CliError('no server given and not logged in to any', 'run: hatoba logout SERVER');
  const key = dockerKey(given);
  // From the helper docker would use and from "auths", as docker logout does.
  const removed = await eraseCredentials(key);
  forgetServer(state, key);
  await writeState(state);
  if (!removed) {
    process.stderr.write(`Not logged in to ${key}\n`);
    return;
  }
  process.stdout.write(`Removing login credentials for ${key}\n`);
}
