// "Credentials for server X", found where docker finds them, for every
// Hatoba command (admin commands, image/tag/repo commands, whoami, k8s
// pull-secret) and stored where docker stores them (hatoba login/logout):
//
//   1. the server's credential helper (`credHelpers[server]`), else
//      `credsStore`: docker-credential-<name> get/store/erase. Hatoba's own
//      helper ("hatoba") is read and written in-process, without a child;
//   2. then `auths[server]` in the Docker config file: `auth`
//      (base64 user:password), `username`/`password`, or `identitytoken`.
//
// An identity token is the refresh token `docker login` keeps instead of
// the password (helper entries with Username "<token>", or `identitytoken`
// in `auths`); the registry's POST /v2/token refresh_token grant turns it
// into access tokens.
import { spawn } from 'node:child_process';
import { dockerKey, sameServer } from '../client/server-address.js';
import { HATOBA_HELPER } from './helper-protocol.js';
import { decodeAuth, getAuth, helperFor, readDockerConfig, removeAuth, setAuth, updateDockerConfig, type DockerConfig } from './docker-config.js';
import { dockerConfigFile } from './files.js';
import { CredentialStore, IDENTITY_TOKEN_USERNAME, isIdentityToken } from './store.js';

export type FoundSecret =
  /** A password, a personal auth token or a robot secret. */
  | { username: string; password: string }
  /** docker login's identity (refresh) token; the user name is known only when `auths` kept it. */
  | { identityToken: string; username?: string };

export interface FoundCredentials {
  /** The key they were found under (host[:port]). */
  server: string;
  secret: FoundSecret;
  /** `helper`: docker-credential-<helper>; `auths`: the config file itself. */
  source: 'helper' | 'auths';
  /** The helper's name (docker-credential-<name>) when source is helper. */
  helper?: string;
  /** The Docker config file looked in. */
  configFile: string;
}

export class CredentialHelperError extends Error {
  override name = 'CredentialHelperError';
}

export interface LookupOptions {
  /** Defaults to $DOCKER_CONFIG/config.json or ~/.docker/config.json. */
  configFile?: string;
  /** An already read config (saves reading the file again). */
  config?: DockerConfig;
  /** Hatoba's own credential store (tests pass one). */
  store?: CredentialStore;
}

/** The credentials docker would use for `server`, or undefined when there are none. */
export async function credentialsFor(server: string, options: LookupOptions = {}): Promise<FoundCredentials | undefined> {
  const configFile = options.configFile ?? dockerConfigFile();
  const config = options.config ?? (await readDockerConfig(configFile));
  const key = dockerKey(server);
  const helper = helperFor(config, key);
  if (helper) {
    const got = await helperGet(helper, key, options.store);
    if (got) {
      const secret: FoundSecret = isIdentityToken(got) ? { identityToken: got.secret } : { username: got.username, password: got.secret };
      return { server: key, secret, source: 'helper', helper, configFile };
    }
  }
  const fromAuths = authsSecret(config, key);
  return fromAuths ? { server: fromAuths.key, secret: fromAuths.secret, source: 'auths', configFile } : undefined;
}

/** `auths[server]`: an identity token when there is one (docker then leaves the password empty), else user and password. */
export function authsSecret(config: DockerConfig, server: string): { key: string; secret: FoundSecret } | undefined {
  const auths = config.auths ?? {};
  for (const [k, entry] of Object.entries(auths)) {
    if (!sameServer(k, server) || typeof entry?.identitytoken !== 'string' || entry.identitytoken === '') continue;
    const user = typeof entry.auth === 'string' ? decodeAuth(entry.auth)?.username : typeof entry.username === 'string' ? entry.username : undefined;
    return { key: k, secret: { identityToken: entry.identitytoken, ...(user ? { username: user } : {}) } };
  }
  const auth = getAuth(config, server);
  if (auth && auth.password !== '') return { key: auth.key, secret: { username: auth.username, password: auth.password } };
  return undefined;
}

/**
 * Stores credentials where docker would (`docker login`): through the
 * server's helper (or credsStore) when the config names one, taking any
 * secret for the server out of `auths`; else in `auths`. Returns where.
 */
export async function saveCredentials(server: string, secret: { username: string; password: string }, options: LookupOptions = {}): Promise<{ source: 'helper' | 'auths'; helper?: string; configFile: string }> {
  const configFile = options.configFile ?? dockerConfigFile();
  const key = dockerKey(server);
  const helper = helperFor(await readDockerConfig(configFile), key);
  if (helper) {
    await helperStore(helper, key, secret, options.store);
    await updateDockerConfig((c) => void removeAuth(c, key), configFile, { onlyIfChanged: true });
    return { source: 'helper', helper, configFile };
  }
  await updateDockerConfig((c) => setAuth(c, key, secret.username, secret.password), configFile);
  return { source: 'auths', configFile };
}

/** Removes a server's credentials from its helper and from `auths` (`docker logout`); false when there were none. */
export async function eraseCredentials(server: string, options: LookupOptions = {}): Promise<boolean> {
  const configFile = options.configFile ?? dockerConfigFile();
  const key = dockerKey(server);
  const helper = helperFor(await readDockerConfig(configFile), key);
  const inHelper = helper ? await helperErase(helper, key, options.store) : false;
  let inAuths = 0;
  await updateDockerConfig((c) => void (inAuths = removeAuth(c, key)), configFile, { onlyIfChanged: true });
  return inHelper || inAuths > 0;
}

/** The user name of found credentials, when they tell it. */
export function usernameOf(secret: FoundSecret): string | undefined {
  return 'password' in secret ? secret.username : secret.username;
}

// --- talking to credential helpers ------------------------------------------------------

const HELPER_TIMEOUT_MS = 30_000;

/** `docker-credential-<helper> get`; undefined when it has nothing for the server. */
export async function helperGet(helper: string, server: string, store?: CredentialStore): Promise<{ username: string; secret: string } | undefined> {
  if (helper === HATOBA_HELPER) {
    const c = await (store ?? new CredentialStore()).get(server);
    return c ? { username: c.username, secret: c.secret } : undefined;
  }
  const r = await runHelper(helper, 'get', server);
  if (r.code !== 0) {
    if (/credentials not found/i.test(r.stdout)) return undefined;
    throw new CredentialHelperError(`docker-credential-${helper} get failed for ${server}: ${r.stdout.trim() || r.error || `exit ${r.code}`}`);
  }
  try {
    const v = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
    return typeof v.Username === 'string' && typeof v.Secret === 'string' && v.Secret !== '' ? { username: v.Username, secret: v.Secret } : undefined;
  } catch {
    throw new CredentialHelperError(`docker-credential-${helper} get answered something that is not JSON`);
  }
}

/** Stores credentials through a helper, as `docker login` does. */
export async function helperStore(helper: string, server: string, secret: FoundSecret, store?: CredentialStore): Promise<void> {
  const username = 'password' in secret ? secret.username : IDENTITY_TOKEN_USERNAME;
  const value = 'password' in secret ? secret.password : secret.identityToken;
  if (helper === HATOBA_HELPER) {
    await (store ?? new CredentialStore()).store({ serverURL: server, username, secret: value });
    return;
  }
  const r = await runHelper(helper, 'store', JSON.stringify({ ServerURL: server, Username: username, Secret: value }));
  if (r.code !== 0) throw new CredentialHelperError(`docker-credential-${helper} store failed for ${server}: ${r.stdout.trim() || r.error || `exit ${r.code}`}`);
}

/** Erases a server's credentials in a helper; false when it had none. */
export async function helperErase(helper: string, server: string, store?: CredentialStore): Promise<boolean> {
  if (helper === HATOBA_HELPER) return (store ?? new CredentialStore()).erase(server);
  const r = await runHelper(helper, 'erase', server);
  if (r.code === 0) return true;
  if (/credentials not found/i.test(r.stdout)) return false;
  throw new CredentialHelperError(`docker-credential-${helper} erase failed for ${server}: ${r.stdout.trim() || r.error || `exit ${r.code}`}`);
}

function runHelper(helper: string, action: string, input: string): Promise<{ code: number | null; stdout: string; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(`docker-credential-${helper}`, [action], { stdio: ['pipe', 'pipe', 'ignore'], timeout: HELPER_TIMEOUT_MS });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ code: -1, stdout: '', error: err.code === 'ENOENT' ? `docker-credential-${helper} is not on PATH` : err.message }),
    );
    child.on('close', (code) => resolve({ code, stdout }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}
