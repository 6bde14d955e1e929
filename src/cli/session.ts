// Which server an admin command talks to and with which credentials:
// --server, else $HATOBA_SERVER, else the server of the last `hatoba login`
// (or the only one left); the credentials are found where docker finds them
// (credentials/credentials-for.ts: the server's credential helper,
// credsStore, then `auths`). docker login's identity token works too: the
// client trades it at the token endpoint for a bearer token for the API,
// which holds token rights (no password change, no longer-lived tokens).
import { ManagementClient, type Me } from '../client/management-client.js';
import { clientTls } from '../client/trust.js';
import { parseServerAddress } from '../client/server-address.js';
import { knownUrl, readState } from './cli-state.js';
import { credentialsFor, usernameOf, type FoundCredentials } from '../credentials/credentials-for.js';
import { readDockerConfig } from '../credentials/docker-config.js';
import { dockerConfigFile } from '../credentials/files.js';
import { CliError, explain, type ErrorContext } from './errors.js';

export interface ServerOptions {
  server?: string;
  insecure?: boolean;
}

export interface Session {
  client: ManagementClient;
  /** The `auths` key, e.g. 127.0.0.1:5000. */
  server: string;
  url: string;
  username: string;
  context: ErrorContext;
  /** Runs a call, turning failures into errors that say what to do. */
  run<T>(call: (client: ManagementClient) => Promise<T>): Promise<T>;
}

export interface Target {
  /** host[:port] */
  server: string;
  url: string;
  found: FoundCredentials;
}

/**
 * The server a command means when none is given: $HATOBA_SERVER, else the
 * current one (the last `hatoba login`), else the only one logged in to;
 * a CliError saying what to give when there is none.
 */
export async function chosenServer(given?: string, howToGive = 'pass --server SERVER'): Promise<string> {
  given ??= process.env.HATOBA_SERVER;
  if (given) return given;
  const state = await readState();
  const config = await readDockerConfig();
  const has = async (server: string) => (await credentialsFor(server, { config })) !== undefined;
  // Only servers logged in to with `hatoba login`: other entries of the
  // Docker config may be any registry.
  if (state.current && (await has(state.current))) return state.current;
  const known: string[] = [];
  for (const k of Object.keys(state.servers ?? {})) if (await has(k)) known.push(k);
  if (known.length === 1) return known[0]!;
  if (known.length > 1) throw new CliError(`logged in to several servers (${known.join(', ')}), and none is current`, `pick one: ${howToGive} (or set HATOBA_SERVER)`);
  throw new CliError('no server given, and not logged in to any with hatoba login', `run: hatoba login SERVER (or ${howToGive}, or set HATOBA_SERVER)`);
}

/** The server a command means and the credentials stored for it; a CliError when there are none. */
export async function resolveTarget(opts: ServerOptions): Promise<Target> {
  const given = await chosenServer(opts.server);
  const state = await readState();
  const config = await readDockerConfig();
  const address = parseServerAddress(given, { insecure: opts.insecure });
  const url = address.explicitScheme || opts.insecure ? address.url : (knownUrl(state, address.key) ?? address.url);
  const found = await credentialsFor(address.key, { config });
  if (!found) {
    throw new CliError(`not logged in to ${address.key} (no credentials for it in its credential helper or in ${dockerConfigFile()})`, `run: hatoba login ${address.key} (or docker login ${address.key})`);
  }
  return { server: address.key, url, found };
}

export async function openSession(opts: ServerOptions): Promise<Session> {
  const { server, url, found } = await resolveTarget(opts);
  const secret = found.secret;
  const client = new ManagementClient(url, 'password' in secret ? { username: secret.username, password: secret.password } : { identityToken: secret.identityToken }, { tls: clientTls() });
  const context: ErrorContext = { server, url, storedCredentials: true, username: usernameOf(secret) };
  if (context.username === undefined) {
    // A credential helper keeps no user name with an identity token: the server tells it.
    try {
      context.username = loginOf(await client.me());
    } catch (err) {
      throw explain(err, context);
    }
  }
  const username = context.username;
  return {
    client,
    server,
    url,
    username,
    context,
    async run(call) {
      try {
        return await call(client);
      } catch (err) {
        throw explain(err, context);
      }
    },
  };
}

/** The name `me` signs in as (`robot$<namespace>+<name>` for a robot). */
function loginOf(me: Me): string {
  return me.kind === 'robot' ? `robot$${me.namespace}+${me.name}` : (me.username ?? me.kind);
}
