// Hatoba's credential store: the secrets behind `docker-credential-hatoba`
// (and `hatoba login` once credHelpers names it), kept in one private JSON file,
// $HATOBA_CONFIG_DIR/credentials.json (else $XDG_CONFIG_HOME/hatoba/ or
// ~/.config/hatoba/), mode 0600 in a 0700 directory, written atomically
// under a lock file.
//
// Entries are keyed by the normalised server (docker's ConvertToHostname:
// `https://` or `http://` and any path removed, host lower-cased), so
// `https://registry.example/v2/`, `registry.example` and
// `REGISTRY.example` are one server; `registry.example:5000` is another.
// Each entry keeps the server URL as it was stored, which is what `list`
// reports (docker calls `get` with it again).
//
// Identity tokens are stored as docker hands them over: Username "<token>"
// and Secret the refresh (identity) token.
//
// File format (version 1; unknown top-level keys are kept):
//   {
//     "version": 1,
//     "credentials": {
//       "registry.example:5000": { "serverURL": "registry.example:5000", "username": "jdoe", "secret": "..." }
//     }
//   }
import { dockerKey } from '../client/server-address.js';
import { readFile } from 'node:fs/promises';
import { credentialsFile, withFileLock, writePrivateFileAtomic } from './files.js';

/** What docker calls `Credentials` (ServerURL, Username, Secret). */
export interface StoredCredentials {
  serverURL: string;
  username: string;
  secret: string;
}

/** The Username docker uses for an identity token (the Secret is then the token). */
export const IDENTITY_TOKEN_USERNAME = '<token>';

export function isIdentityToken(credentials: Pick<StoredCredentials, 'username'>): boolean {
  return credentials.username === IDENTITY_TOKEN_USERNAME;
}

export class CredentialStoreError extends Error {
  override name = 'CredentialStoreError';
}

interface StoreFile {
  version?: number;
  credentials?: Record<string, StoredCredentials>;
  [key: string]: unknown;
}

/**
 * The key a server's credentials are kept under, as docker's
 * ConvertToHostname makes it (scheme `http://` / `https://` and any path
 * removed), lower-cased because host names are case-insensitive:
 * `https://Registry.Example:5000/v2/` -> `registry.example:5000`.
 */
export function normalizeServerURL(serverURL: string): string {
  return dockerKey(serverURL).toLowerCase();
}

export class CredentialStore {
  constructor(readonly file: string = credentialsFile()) {}

  /** The credentials for a server (any spelling of it), if stored. */
  async get(serverURL: string): Promise<StoredCredentials | undefined> {
    const key = normalizeServerURL(serverURL);
    if (key === '') return undefined;
    const data = await this.read();
    const entry = Object.hasOwn(data.credentials ?? {}, key) ? data.credentials![key] : undefined;
    return entry ? { ...entry } : undefined;
  }

  /** Stores (or replaces) a server's credentials. */
  async store(credentials: StoredCredentials): Promise<void> {
    const key = normalizeServerURL(credentials.serverURL);
    if (key === '') throw new CredentialStoreError('no credentials server URL');
    if (credentials.username === '') throw new CredentialStoreError('no credentials username');
    await this.update((data) => {
      data.credentials![key] = { serverURL: credentials.serverURL.trim(), username: credentials.username, secret: credentials.secret };
      return true;
    });
  }

  /** Stores an identity (refresh) token for a server, as docker does: Username "<token>". */
  storeIdentityToken(serverURL: string, token: string): Promise<void> {
    return this.store({ serverURL, username: IDENTITY_TOKEN_USERNAME, secret: token });
  }

  /** Removes a server's credentials; false when there were none. */
  async erase(serverURL: string): Promise<boolean> {
    const key = normalizeServerURL(serverURL);
    if (key === '') return false;
    let found = false;
    await this.update((data) => {
      found = Object.hasOwn(data.credentials!, key);
      if (found) delete data.credentials![key];
      return found;
    });
    return found;
  }

  /** Server URL (as stored) -> username, what the helper's `list` prints. */
  async list(): Promise<Record<string, string>> {
    const result: Record<string, string> = {};
    for (const entry of await this.all()) {
      // defineProperty: a server named "__proto__" is a key like any other.
      Object.defineProperty(result, entry.serverURL, { value: entry.username, enumerable: true, writable: true, configurable: true });
    }
    return result;
  }

  /** Every stored entry. */
  async all(): Promise<StoredCredentials[]> {
    const data = await this.read();
    return Object.values(data.credentials ?? {}).map((e) => ({ ...e }));
  }

  private async update(change: (data: StoreFile & { credentials: Record<string, StoredCredentials> }) => boolean): Promise<void> {
    await withFileLock(this.file, async () => {
      const data = await this.read();
      data.version ??= 1;
      data.credentials ??= Object.create(null) as Record<string, StoredCredentials>;
      if (!change(data as StoreFile & { credentials: Record<string, StoredCredentials> })) return;
      await writePrivateFileAtomic(this.file, `${JSON.stringify(data, null, 2)}\n`);
    });
  }

  private async read(): Promise<StoreFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new CredentialStoreError(`cannot read ${this.file}: ${(err as Error).message}`);
    }
    if (text.trim() === '') return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CredentialStoreError(`${this.file} is not valid JSON (${(err as Error).message}); fix or remove it, then log in again`);
    }
    if (!isObject(parsed)) throw new CredentialStoreError(`${this.file} must hold a JSON object`);
    const data = parsed as StoreFile;
    if (data.version !== undefined && data.version !== 1) {
      throw new CredentialStoreError(`${this.file} has format version ${String(data.version)}, which this Hatoba does not know; upgrade Hatoba`);
    }
    if (data.credentials !== undefined) {
      if (!isObject(data.credentials)) throw new CredentialStoreError(`"credentials" in ${this.file} must be an object`);
      // A null-prototype copy: a server named "__proto__" is just a key.
      const clean: Record<string, StoredCredentials> = Object.create(null) as Record<string, StoredCredentials>;
      for (const [key, entry] of Object.entries(data.credentials)) {
        if (!isObject(entry) || typeof entry.serverURL !== 'string' || typeof entry.username !== 'string' || typeof entry.secret !== 'string') {
          throw new CredentialStoreError(`the entry for ${key} in ${this.file} is damaged (needs serverURL, username and secret strings); fix the file or remove it and log in again`);
        }
        clean[key] = { serverURL: entry.serverURL, username: entry.username, secret: entry.secret };
      }
      data.credentials = clean;
    }
    return data;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
