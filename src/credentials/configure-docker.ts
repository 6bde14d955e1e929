// `hatoba auth configure-docker [SERVER...]`: points docker (and podman,
// skopeo, buildah, which read the same file) at `docker-credential-hatoba`
// for the given registries by adding `"credHelpers": {"<server>": "hatoba"}`
// to ~/.docker/config.json ($DOCKER_CONFIG/config.json), like
// `gcloud auth configure-docker`.
//
// Every other key of the file is kept as it was (auths, credsStore,
// proxies, other credHelpers, keys Hatoba does not know); only
// credHelpers[server] is set. A missing file is created. The file is written
// atomically (temp + fsync + rename) with mode 0600, and not at all when
// nothing changes, so running it twice is harmless.
//
// Use (the CLI wiring):
//   import { configureDocker } from '../credentials/configure-docker.js';
//   import { dockerConfigFile } from '../credentials/files.js';
//   const r = await configureDocker(dockerConfigFile(), ['registry.example:5000']);
//   for (const c of r.replaced) warn(`${c.server} used docker-credential-${c.previous}; now hatoba`);
//   print(r.changed ? `updated ${r.path}` : `${r.path} already configured`);
import { spawn } from 'node:child_process';
import { dockerKey } from '../client/server-address.js';
import { authsSecret, helperStore } from './credentials-for.js';
import { readDockerConfig, readDockerConfigFile, removeAuth, updateDockerConfig, writeDockerConfig } from './docker-config.js';
import { withFileLock } from './files.js';
import { HATOBA_HELPER, HELPER_NAME } from './helper-protocol.js';
import { CredentialStore } from './store.js';

export { HATOBA_HELPER };

export class ConfigureDockerError extends Error {
  override name = 'ConfigureDockerError';
}

export interface ConfigureDockerResult {
  /** The config file. */
  path: string;
  /** credHelpers keys, as written (host[:port]), one per server given. */
  servers: string[];
  /** Servers that had no helper before. */
  added: string[];
  /** Servers that used another helper before. */
  replaced: { server: string; previous: string }[];
  /** Servers already set to hatoba. */
  unchanged: string[];
  /** The file did not exist and was created. */
  created: boolean;
  /** The file was written (false when everything was configured already). */
  changed: boolean;
}

/**
 * The credHelpers key for a server as the user typed it: docker looks
 * helpers up by registry host[:port], so a scheme and any path are
 * dropped (`https://registry.example:5000/v2/` -> `registry.example:5000`).
 */
export function credHelperKey(server: string): string {
  const s = /^https?:\/\//i.test(server.trim()) || !/^[a-z][a-z0-9+.-]*:\/\//i.test(server.trim()) ? dockerKey(server) : '';
  if (s === '' || /[\s"\\]/.test(s)) {
    throw new ConfigureDockerError(`"${server}" is not a registry address: use host[:port]`);
  }
  return s;
}

/**
 * Adds `credHelpers[server] = "hatoba"` for each server to the Docker
 * config file at `configPath`, keeping everything else in it.
 */
export async function configureDocker(configPath: string, servers: string[], helper: string = HATOBA_HELPER): Promise<ConfigureDockerResult> {
  if (servers.length === 0) throw new ConfigureDockerError('name at least one registry (host[:port]) to use docker-credential-hatoba for');
  const keys = [...new Set(servers.map(credHelperKey))];
  return withFileLock(configPath, async () => {
    const { config, existed } = await readDockerConfigFile(configPath);
    const result: ConfigureDockerResult = { path: configPath, servers: keys, added: [], replaced: [], unchanged: [], created: !existed, changed: false };
    let helpers = config.credHelpers;
    if (helpers === undefined || helpers === null) {
      helpers = {};
      config.credHelpers = helpers;
    }
    if (typeof helpers !== 'object' || Array.isArray(helpers)) throw new ConfigureDockerError(`"credHelpers" in ${configPath} must be an object`);
    const map = helpers as Record<string, unknown>;
    for (const key of keys) {
      const previous = Object.hasOwn(map, key) ? map[key] : undefined;
      if (previous === helper) {
        result.unchanged.push(key);
        continue;
      }
      if (typeof previous === 'string' && previous !== '') result.replaced.push({ server: key, previous });
      else result.added.push(key);
      Object.defineProperty(map, key, { value: helper, enumerable: true, writable: true, configurable: true });
    }
    result.changed = !existed || result.added.length > 0 || result.replaced.length > 0;
    // Tab indentation, as docker itself writes the file.
    if (result.changed) await writeDockerConfig(config, configPath);
    return result;
  });
}


/**
 * Moves what `hatoba login` (or `docker login` before the helper was
 * configured) left in `auths` for these servers into Hatoba's credential
 * store, and takes it out of the config file: with `credHelpers` set,
 * docker, skopeo and podman look only in the helper. Returns the servers
 * moved.
 */
export async function moveAuthsToHelper(configPath: string, servers: string[], store: CredentialStore = new CredentialStore()): Promise<string[]> {
  const moved: string[] = [];
  const keys = [...new Set(servers.map(credHelperKey))];
  const config = await readDockerConfig(configPath);
  for (const key of keys) {
    const found = authsSecret(config, key);
    if (!found) continue;
    await helperStore(HATOBA_HELPER, key, found.secret, store);
    moved.push(key);
  }
  if (moved.length > 0) await updateDockerConfig((c) => moved.forEach((key) => removeAuth(c, key)), configPath);
  return moved;
}

/**
 * Whether `docker-credential-hatoba` runs from PATH as docker will run it
 * (`version` exits 0); the reason when it does not.
 */
export function checkHelperRunnable(env: NodeJS.ProcessEnv = process.env): Promise<{ ok: true } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    const child = spawn(HELPER_NAME, ['version'], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, reason: err.code === 'ENOENT' ? `${HELPER_NAME} is not on PATH` : `${HELPER_NAME} cannot be run: ${err.message}` }));
    child.on('close', (code) => resolve(code === 0 ? { ok: true } : { ok: false, reason: `${HELPER_NAME} version failed (exit ${code}): ${output.trim().split('\n')[0] ?? ''}` }));
  });
}

/** How to get the helper on PATH, for messages and the README. */
export const HELPER_INSTALL_HINT = `put ${HELPER_NAME} on PATH: from a clone of Hatoba run \`npm install -g .\` (or \`npm link\`), which installs the package's two bins, hatoba and ${HELPER_NAME}`;
