// A registry client for `host[:port]` with the credentials docker would
// use: given ones (USER:PASSWORD), else the server's credential helper
// (or credsStore), else `auths` of the Docker config. Where the
// credentials came from is kept, so that a refusal can say what to check.
import { credentialsFor } from '../credentials/credentials-for.js';
import { ImageWorkflowError } from './image-errors.js';
import { RegistryClient, type RegistryCredentials } from './registry-client.js';
import { parseServerAddress } from './server-address.js';
import { clientTls } from './trust.js';

export interface ConnectOptions {
  /** `USER:PASSWORD`; `flag` names the option it came from, for messages. */
  creds?: string;
  credsFlag?: string;
  /** Plain HTTP (the default only for loopback addresses). */
  insecure?: boolean;
  /** The URL a `hatoba login` remembered for this server key (it may have found HTTPS, or a path). */
  knownUrl?: (key: string) => string | undefined;
}

export interface Connection {
  client: RegistryClient;
  /** `host[:port]`, the key credentials are kept under. */
  registry: string;
  url: string;
  /** Where the credentials came from, for messages. */
  credentialSource: 'flag' | 'login' | 'helper' | 'none';
  username?: string;
}

export function parseCreds(value: string, flag = '--creds'): RegistryCredentials {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new ImageWorkflowError(`${flag} needs USER:PASSWORD`, `e.g. ${flag} jdoe:"$PASSWORD" (or log in once with: hatoba login SERVER)`);
  return { username: value.slice(0, colon), password: value.slice(colon + 1) };
}

export async function connect(registry: string, opts: ConnectOptions = {}): Promise<Connection> {
  const address = parseServerAddress(registry, { insecure: opts.insecure });
  const url = opts.insecure ? address.url : (opts.knownUrl?.(address.key) ?? address.url);
  let creds: RegistryCredentials | undefined;
  let credentialSource: Connection['credentialSource'] = 'none';
  if (opts.creds !== undefined) {
    creds = parseCreds(opts.creds, opts.credsFlag);
    credentialSource = 'flag';
  } else {
    const found = await credentialsFor(address.key);
    if (found) {
      creds = found.secret;
      credentialSource = found.source === 'helper' ? 'helper' : 'login';
    }
  }
  const client = new RegistryClient({ url, credentials: creds, userAgent: 'hatoba/0.1.0', tls: clientTls() });
  const username = creds && 'username' in creds ? creds.username : undefined;
  return { client, registry: address.key, url, credentialSource, ...(username ? { username } : {}) };
}
