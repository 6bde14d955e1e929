// The Docker client config file (~/.docker/config.json, or
// $DOCKER_CONFIG/config.json). Its `auths` is where `hatoba login` keeps
// credentials when no credential helper is named for the server, as
// `docker login` does (credentials-for.ts has the whole lookup).
// Every key Hatoba does not touch (credHelpers, credsStore, proxies,
// other registries' auths...) is written back as it was read. Writes are
// atomic (temp file + rename) and the file is private (0600).
import { readFile } from 'node:fs/promises';
import { dockerKey, sameServer } from '../client/server-address.js';
import { dockerConfigFile, withFileLock, writePrivateFileAtomic } from './files.js';

export interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  [key: string]: unknown;
}

export interface DockerConfig {
  auths?: Record<string, DockerAuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

export class DockerConfigError extends Error {}

/** $DOCKER_CONFIG/config.json, or ~/.docker/config.json. */
export const dockerConfigPath = dockerConfigFile;

/** Reads the config; a missing or empty file is an empty config. */
export async function readDockerConfig(file = dockerConfigPath()): Promise<DockerConfig> {
  return (await readDockerConfigFile(file)).config;
}

/** Reads the config and tells whether the file existed. */
export async function readDockerConfigFile(file = dockerConfigPath()): Promise<{ config: DockerConfig; existed: boolean }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { config: {}, existed: false };
    throw new DockerConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (text.trim() === '') return { config: {}, existed: true };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DockerConfigError(`${file} is not valid JSON (${(err as Error).message}); fix or move it, then try again`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new DockerConfigError(`${file} must hold a JSON object`);
  const config = parsed as DockerConfig;
  if (config.auths !== undefined && (typeof config.auths !== 'object' || config.auths === null || Array.isArray(config.auths))) {
    throw new DockerConfigError(`"auths" in ${file} must be an object`);
  }
  return { config, existed: true };
}

/**
 * Writes the config atomically (private temp file, fsync, rename), mode
 * 0600, tab-indented as docker writes it. A symlinked config.json keeps its
 * link.
 */
export async function writeDockerConfig(config: DockerConfig, file = dockerConfigPath()): Promise<void> {
  await writePrivateFileAtomic(file, `${JSON.stringify(config, null, '\t')}\n`);
}

/**
 * Reads, changes and writes the config in one step, under the file's lock
 * (configure-docker takes the same one). With `onlyIfChanged` a change
 * that leaves the config as it was writes nothing (and creates no file).
 */
export async function updateDockerConfig(change: (config: DockerConfig) => void, file = dockerConfigPath(), options: { onlyIfChanged?: boolean } = {}): Promise<DockerConfig> {
  return withFileLock(file, async () => {
    const { config, existed } = await readDockerConfigFile(file);
    const before = JSON.stringify(config);
    change(config);
    if (!options.onlyIfChanged || (existed && JSON.stringify(config) !== before)) await writeDockerConfig(config, file);
    return config;
  });
}

/** Stores `auths[key] = {auth: base64(user:password)}`, as docker login does. */
export function setAuth(config: DockerConfig, server: string, username: string, password: string): void {
  const key = dockerKey(server);
  config.auths ??= {};
  const previous = config.auths[key];
  // Keep unknown fields of an existing entry (e.g. "email"); drop old secrets.
  const entry: DockerAuthEntry = { ...(previous ?? {}) };
  delete entry.username;
  delete entry.password;
  delete entry.identitytoken;
  entry.auth = encodeAuth(username, password);
  config.auths[key] = entry;
}

/** Removes every `auths` entry for the server (however its key is spelled); returns how many. */
export function removeAuth(config: DockerConfig, server: string): number {
  if (!config.auths) return 0;
  let removed = 0;
  for (const key of Object.keys(config.auths)) {
    if (sameServer(key, server)) {
      delete config.auths[key];
      removed++;
    }
  }
  return removed;
}

/** The stored username and password for a server, if any (exact key first, then any spelling of it). */
export function getAuth(config: DockerConfig, server: string): { key: string; username: string; password: string } | undefined {
  const auths = config.auths ?? {};
  const key = dockerKey(server);
  const keys = [key, ...Object.keys(auths).filter((k) => k !== key && sameServer(k, server))];
  for (const k of keys) {
    const entry = auths[k];
    if (!entry) continue;
    if (typeof entry.auth === 'string' && entry.auth !== '') {
      const decoded = decodeAuth(entry.auth);
      if (decoded) return { key: k, ...decoded };
    }
    if (typeof entry.username === 'string' && typeof entry.password === 'string') return { key: k, username: entry.username, password: entry.password };
  }
  return undefined;
}

/** The credential helper Docker would use for this server instead of `auths`, if any. */
export function helperFor(config: DockerConfig, server: string): string | undefined {
  const helpers = config.credHelpers ?? {};
  for (const [k, helper] of Object.entries(helpers)) if (sameServer(k, server) && helper) return helper;
  return typeof config.credsStore === 'string' && config.credsStore !== '' ? config.credsStore : undefined;
}

export function encodeAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

export function decodeAuth(auth: string): { username: string; password: string } | undefined {
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
