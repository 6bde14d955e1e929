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
import { dockerKey } from '../client/server-address.js';
import { readDockerConfigFile, writeDockerConfig } from './docker-config.js';
import { withFileLock } from './files.js';

export const HATOBA_HELPER = 'hatoba';

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

