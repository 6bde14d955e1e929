// Which server an admin command talks to and with which credentials:
// --server, else $HATOBA_SERVER, else the server of the last `hatoba login`
// (or the only one left); the credentials are the ones
// `hatoba login` stored for it.
import { ManagementClient } from '../client/management-client.js';
import { clientTls } from '../client/trust.js';
import { dockerKey, parseServerAddress } from '../client/server-address.js';
import { knownUrl, readState } from './cli-state.js';
import { dockerConfigPath, getAuth, helperFor, readDockerConfig } from '../credentials/docker-config.js';
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

export async function openSession(opts: ServerOptions): Promise<Session> {
  const state = await readState();
  const config = await readDockerConfig();
  let given = opts.server ?? process.env.HATOBA_SERVER;
  if (!given) {
    // Only servers logged in to with `hatoba login`: other entries of the
    // Docker config may be any registry.
    const known = Object.keys(state.servers ?? {}).filter((k) => getAuth(config, k));
    if (state.current && getAuth(config, state.current)) given = state.current;
    else if (known.length === 1) given = known[0];
    else if (known.length > 1) throw new CliError(`logged in to several servers (${known.join(', ')})`, 'pick one with --server SERVER (or set HATOBA_SERVER)');
  }
  if (!given) {
    throw new CliError('no server given, and not logged in to any with hatoba login', 'run: hatoba login SERVER (or pass --server SERVER, or set HATOBA_SERVER)');
  }
  const address = parseServerAddress(given, { insecure: opts.insecure });
  const key = address.key;
  const url = address.explicitScheme || opts.insecure ? address.url : (knownUrl(state, key) ?? address.url);
  const auth = getAuth(config, key);
  if (!auth) {
    const helper = helperFor(config, key);
    const where = dockerConfigPath();
    throw new CliError(
      `not logged in to ${key} (no credentials for it in ${where}${helper ? `; docker keeps them in the credential helper docker-credential-${helper}, which this command does not read yet` : ''})`,
      `run: hatoba login ${dockerKey(given)}`,
    );
  }
  const client = new ManagementClient(url, { username: auth.username, password: auth.password }, { tls: clientTls() });
  const context: ErrorContext = { server: key, url, storedCredentials: true, username: auth.username };
  return {
    client,
    server: key,
    url,
    username: auth.username,
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
