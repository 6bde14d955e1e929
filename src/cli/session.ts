// Which server an admin command talks to and with which credentials:
// --server, else $HATOBA_SERVER, else the server of the last `hatoba login`
// (or the only one left); the credentials are found where docker finds them
// (credentials/credentials-for.ts: the server's credential helper,
// credsStore, then `auths`).
import { ManagementClient } from '../client/management-client.js';
import { clientTls } from '../client/trust.js';
import { parseServerAddress } from '../client/server-address.js';
import { knownUrl, readState } from './cli-state.js';
import { credentialsFor, type FoundCredentials } from '../credentials/credentials-for.js';
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
  if (!('password' in secret)) {
    // docker login kept a refresh token, which only /v2/ takes; the
    // management API takes a password, auth token or robot secret.
    throw new CliError(
      `the credentials for ${server} (in ${found.source === 'helper' ? `docker-credential-${found.helper}` : found.configFile}) are an identity token from docker login, which the management API does not take`,
      `sign in with a password or an auth token instead: hatoba login ${server} (docker, skopeo and podman keep working; they read the same store)`,
    );
  }
  const client = new ManagementClient(url, { username: secret.username, password: secret.password }, { tls: clientTls() });
  const context: ErrorContext = { server, url, storedCredentials: true, username: secret.username };
  return {
    client,
    server,
    url,
    username: secret.username,
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
