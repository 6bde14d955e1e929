// Shared pieces of the image commands: image references as users type
// them, a registry client with the credentials `hatoba login` (or a
// credential helper, or --creds) gives, the local content store, reading
// a source (tarball, stdin, OCI layout directory, s3://) into a store, and
// errors of the lower layers turned into messages that say what to do.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { ContentStore, defaultContentStoreDir } from '../../client/content-store.js';
import { DigestMismatchError, RegistryApiError, RegistryClient, RegistryClientError, RegistryConnectionError, type BlobSource, type RegistryCredentials } from '../../client/registry-client.js';
import { clientTls } from '../../client/trust.js';
import { parseS3Url, resolveS3Settings, defaultFiles, S3Error, S3Source } from '../../client/s3.js';
import { parseServerAddress } from '../../client/server-address.js';
import { isDigest, type Digest } from '../../formats/digest.js';
import { ImageArchiveError, canonicalReference, readImageArchive, type ImageArchive } from '../../formats/image-archive.js';
import { parseManifest } from '../../formats/manifest.js';
import { INDEX_MANIFEST_TYPES } from '../../formats/media-types.js';
import { readOciLayoutDirectory } from '../../formats/oci-layout-dir.js';
import { credentialsFor } from '../../credentials/credentials-for.js';
import { knownUrl, readState } from '../cli-state.js';
import { CliError, explain } from '../errors.js';
import { ProgressReporter } from '../progress.js';
import type { LocalImage, LocalManifest } from '../../client/image-copy.js';

// --- references ---------------------------------------------------------------

export interface RemoteRef {
  /** `host[:port]` */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** Docker's rule: the first component is a registry when it has a dot or a colon, or is localhost. */
function hasRegistry(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

/** `host[:port]/repo[:tag][@digest]`; undefined when there is no registry host in it. */
export function parseRemoteRef(value: string): RemoteRef | undefined {
  let rest = value.trim().replace(/^docker:\/\//, '');
  const slash = rest.indexOf('/');
  if (slash < 0 || !hasRegistry(rest.slice(0, slash))) return undefined;
  const registry = rest.slice(0, slash);
  rest = rest.slice(slash + 1);
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw new CliError(`"${value}": "${digest}" is not a digest (sha256:<64 hex>)`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag)) throw new CliError(`"${value}": "${tag}" is not a valid tag`);
  }
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(rest)) {
    throw new CliError(`"${value}": "${rest}" is not a valid repository name (lower-case letters, digits, . _ - and / between components)`);
  }
  return { registry, repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** Like parseRemoteRef, but a registry host is required. */
export function requireRemoteRef(value: string, what: string): RemoteRef {
  const ref = parseRemoteRef(value);
  if (!ref) throw new CliError(`${what} "${value}" names no registry`, `write it as HOST[:PORT]/REPOSITORY[:TAG], e.g. registry.example/system/oracle_db:19c`);
  return ref;
}

export function refString(ref: RemoteRef, withTag = true): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (withTag && ref.tag) s += `:${ref.tag}`;
  if (withTag && ref.digest) s += `@${ref.digest}`;
  return s;
}

/** The tag or digest to ask a registry for. */
export function manifestRef(ref: RemoteRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** A local name with `:latest` when it has neither tag nor digest. */
export function normalizeLocalName(name: string): string {
  const n = name.trim();
  if (n.includes('@') || isDigest(n)) return n;
  const colon = n.lastIndexOf(':');
  return colon > n.lastIndexOf('/') ? n : `${n}:latest`;
}

/** `docker.io/library/x:1` -> `x:1`; `quay.io/a/b:1` -> `a/b:1`; `a/b:1` -> `a/b:1` (the path without a registry). */
export function pathOfName(name: string): string {
  const slash = name.indexOf('/');
  let path = slash >= 0 && hasRegistry(name.slice(0, slash)) ? name.slice(slash + 1) : name;
  if (path.startsWith('library/') && (name.startsWith('docker.io/') || name.startsWith('index.docker.io/') || !name.includes('/') || slash < 0)) path = path.slice('library/'.length);
  return path;
}

/** Docker's short form: `docker.io/library/alpine:3` -> `alpine:3`, `docker.io/a/b:1` -> `a/b:1`; other names as they are. */
export function familiarName(name: string): string {
  for (const prefix of ['docker.io/library/', 'index.docker.io/library/', 'docker.io/', 'index.docker.io/']) {
    if (name.startsWith(prefix)) return name.slice(prefix.length);
  }
  return name;
}

/** Splits `a/b:tag` into path and tag (undefined without one). */
export function splitTag(name: string): { path: string; tag?: string } {
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) return { path: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { path: name };
}

// --- the local content store --------------------------------------------------------

export async function openStore(): Promise<ContentStore> {
  return new ContentStore(defaultContentStoreDir()).init();
}

/** A stored image by reference (`name:tag`, docker's long or short name, a digest or a digest prefix). */
export async function resolveLocal(store: ContentStore, reference: string): Promise<{ reference: string; digest: Digest; mediaType: string } | undefined> {
  const images = await store.list();
  const wanted = reference.trim();
  const exact = images.find((i) => i.reference === wanted) ?? images.find((i) => i.reference === normalizeLocalName(wanted));
  if (exact) return exact;
  const canon = canonicalReference(normalizeLocalName(wanted));
  const byName = images.find((i) => !isDigest(i.reference) && canonicalReference(i.reference) === canon);
  if (byName) return byName;
  const hex = wanted.replace(/^sha256:/, '');
  if (/^[a-f0-9]{6,64}$/.test(hex)) {
    const matches = [...new Map(images.filter((i) => i.digest.startsWith(`sha256:${hex}`)).map((i) => [i.digest, i])).values()];
    if (matches.length === 1) return { ...matches[0]!, reference: matches[0]!.digest };
    if (matches.length > 1) throw new CliError(`"${reference}" matches several images (${matches.map((m) => m.digest.slice(0, 19)).join(', ')})`, 'give more of the digest');
  }
  return undefined;
}

/**
 * A stored manifest or index as pushImage wants it: the bytes, children
 * first, and a blob source for every blob the store has.
 */
export async function localImage(store: ContentStore, digest: Digest, mediaType: string): Promise<LocalImage> {
  const blobs = new Map<string, BlobSource>();
  const load = async (d: Digest, type: string): Promise<LocalManifest> => {
    if (!(await store.has(d))) throw new CliError(`the local store lacks manifest ${d}`, 'load or pull the image again');
    const bytes = await store.readBytes(d);
    const parsed = parseManifest(bytes, type);
    const children: LocalManifest[] = [];
    for (const child of parsed.manifests) children.push(await load(child.digest, child.mediaType));
    for (const b of parsed.blobs) {
      if (blobs.has(b.digest)) continue;
      const size = await store.size(b.digest);
      if (size === undefined) {
        if (b.urls?.length) continue; // a foreign layer: the registry fetches it
        throw new CliError(`the local store lacks blob ${b.digest} of ${d}`, 'load or pull the image again');
      }
      blobs.set(b.digest, { digest: b.digest, size, mediaType: b.mediaType, open: () => store.open(b.digest) });
    }
    return { bytes, mediaType: parsed.mediaType || type, ...(children.length ? { children } : {}) };
  };
  const top = await load(digest, mediaType);
  return { ...top, blobs };
}

// --- reading sources ------------------------------------------------------------------

export interface SourceOptions {
  s3Endpoint?: string;
  s3Region?: string;
  s3Profile?: string;
}

/** What a source holds, once stored: its top-level items (what a user names). */
export interface LoadedItem {
  kind: 'image' | 'index';
  digest: Digest;
  mediaType: string;
  /** full names (`registry.example/system/oracle_db:19c`, `alpine:3.19`) */
  names: string[];
  /** bare tags of OCI layouts (`org.opencontainers.image.ref.name` = `19c`): name no repository */
  tags: string[];
  platform?: string;
}

export interface LoadedSource {
  label: string;
  archive: ImageArchive;
  items: LoadedItem[];
}

export function isS3(src: string): boolean {
  return src.startsWith('s3://');
}

/** Reads a tarball, stdin (`-`), an OCI layout directory or `s3://BUCKET/KEY` into the store. */
export async function loadSource(src: string, store: ContentStore, progress: ProgressReporter, opts: SourceOptions = {}): Promise<LoadedSource> {
  const sink = store.sink((b) => progress.stored(b.digest, b.size));
  let archive: ImageArchive;
  let label = src;
  if (src === '-') {
    label = 'stdin';
    archive = await readImageArchive(process.stdin, sink);
  } else if (isS3(src)) {
    const location = parseS3Url(src);
    if (!location.key) throw new CliError(`${src} names a bucket, not an object`, `give the key of the tarball: s3://${location.bucket}/KEY (list them with: hatoba s3 ls s3://${location.bucket}/)`);
    const s3 = new S3Source(resolveS3Settings({ endpoint: opts.s3Endpoint, region: opts.s3Region, profile: opts.s3Profile }, process.env, defaultFiles()));
    try {
      const { body } = await s3.open(location);
      archive = await readImageArchive(body, sink);
    } finally {
      s3.destroy();
    }
  } else {
    let info;
    try {
      info = await stat(src);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`no such file or directory: ${src}`, 'give a tarball (docker save, skopeo), an OCI layout directory, s3://BUCKET/KEY, or - for stdin');
      throw err;
    }
    if (info.isDirectory()) {
      archive = await readOciLayoutDirectory((p) => createReadStream(join(src, ...p.split('/'))), sink);
    } else {
      archive = await readImageArchive(createReadStream(src), sink);
    }
  }
  // Manifests the reader made (classic docker save) or read: keep them all.
  for (const m of [...archive.images, ...archive.indexes]) {
    await store.putBytes(m.bytes);
    if (m.kind === 'image') await store.putBytes(m.config.bytes);
  }
  const children = new Set(archive.indexes.flatMap((i) => i.manifests.map((m) => m.digest as string)));
  const items: LoadedItem[] = [];
  for (const m of [...archive.indexes, ...archive.images]) {
    if (children.has(m.digest)) continue;
    const names: string[] = [];
    for (const n of m.repoTags) if (!names.includes(familiarName(n))) names.push(familiarName(n));
    // ref.name annotations that are whole names (skopeo's `name:tag`); a bare tag names no repository.
    for (const r of m.refNames) if ((r.includes('/') || r.includes(':')) && !names.some((n) => canonicalReference(n) === canonicalReference(normalizeLocalName(r)))) names.push(normalizeLocalName(r));
    const tags = m.refNames.filter((r) => !r.includes('/') && !r.includes(':'));
    const platform = m.kind === 'image' && m.platform ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/') : undefined;
    items.push({ kind: m.kind, digest: m.digest, mediaType: m.mediaType, names, tags, ...(platform ? { platform } : {}) });
  }
  for (const w of archive.warnings) progress.note(`warning: ${w}`);
  return { label, archive, items };
}

export function isIndexType(mediaType: string): boolean {
  return INDEX_MANIFEST_TYPES.has(mediaType);
}

// --- registry clients with credentials -------------------------------------------------

export interface RegistryOptions {
  creds?: string;
  insecure?: boolean;
  tlsVerify?: boolean;
}

export interface Connection {
  client: RegistryClient;
  registry: string;
  url: string;
  /** Where the credentials came from, for messages. */
  credentialSource: 'flag' | 'login' | 'helper' | 'none';
  username?: string;
}

export function registryOptions(cmd: Command, credsFlag = '--creds <user:password>', credsHelp = 'credentials for the registry (default: from hatoba login / the Docker config / its credential helper)'): Command {
  return cmd
    .option(credsFlag, credsHelp)
    .option('--insecure', 'use plain HTTP (the default only for loopback addresses)')
    .addOption(new Option('--tls-verify <bool>', 'false: use plain HTTP, as --insecure (skopeo spelling)').choices(['true', 'false']));
}

export function transferOptions(cmd: Command): Command {
  return cmd
    .option('-q, --quiet', 'print no progress')
    .option('--json', 'print one JSON object with the result at the end (and no progress)')
    .option('--concurrency <n>', 'blobs transferred at the same time', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 64) throw new CliError(`--concurrency ${v}: give a whole number from 1 to 64`);
      return n;
    }, 4);
}

function parseCreds(value: string): RegistryCredentials {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new CliError('--creds needs USER:PASSWORD', 'e.g. --creds jdoe:"$PASSWORD" (or log in once with: hatoba login SERVER)');
  return { username: value.slice(0, colon), password: value.slice(colon + 1) };
}

/** Credentials Docker's way (credentials/credentials-for.ts): the server's credential helper (or credsStore), else `auths`. */
export async function storedCredentials(registry: string): Promise<{ creds: RegistryCredentials; source: 'login' | 'helper' } | undefined> {
  const found = await credentialsFor(registry);
  if (!found) return undefined;
  return { creds: found.secret, source: found.source === 'helper' ? 'helper' : 'login' };
}

export async function connect(registry: string, opts: RegistryOptions, credsFlag?: string): Promise<Connection> {
  const insecure = opts.insecure || String(opts.tlsVerify) === 'false';
  const address = parseServerAddress(registry, { insecure });
  const state = await readState();
  const url = insecure ? address.url : (knownUrl(state, address.key) ?? address.url);
  let creds: RegistryCredentials | undefined;
  let credentialSource: Connection['credentialSource'] = 'none';
  const flag = credsFlag ?? opts.creds;
  if (flag !== undefined) {
    creds = parseCreds(flag);
    credentialSource = 'flag';
  } else {
    const stored = await storedCredentials(address.key);
    if (stored) {
      creds = stored.creds;
      credentialSource = stored.source;
    }
  }
  const client = new RegistryClient({ url, credentials: creds, userAgent: 'hatoba/0.1.0', tls: clientTls() });
  const username = creds && 'username' in creds ? creds.username : undefined;
  return { client, registry: address.key, url, credentialSource, ...(username ? { username } : {}) };
}

// --- errors -------------------------------------------------------------------------------

/** Turns the lower layers' errors into messages with what to do next. */
export function explainImageError(err: unknown, conn?: Connection): CliError {
  if (err instanceof CliError) return err;
  const host = conn?.registry ?? 'SERVER';
  const who = conn?.username ? `${conn.username}` : 'you';
  const login = conn?.credentialSource === 'flag' ? 'check the user and password given with --creds' : `check who you are signed in as, or sign in as someone else: hatoba login ${host}`;
  if (err instanceof RegistryApiError) {
    const msg = err.serverMessage;
    switch (err.code) {
      case 'DENIED':
        return new CliError(
          `denied: ${msg}${err.repository && !msg.includes(err.repository) ? ` (${err.action ?? 'access'} on ${err.repository})` : ''}`,
          `${who === 'you' ? 'you lack' : `${who} lacks`} that right on ${host}; ask an administrator for a role that grants it (pushing needs e.g. artifact-writer or system-artifact-management-admin); ${login}`,
        );
      case 'UNAUTHORIZED':
        if (conn?.credentialSource === 'none') return new CliError(`unauthorized: ${msg}`, `sign in first: hatoba login ${host} (or pass --creds USER:PASSWORD)`);
        if (conn?.credentialSource === 'flag') return new CliError(`unauthorized: ${msg}`, 'check the user and password given with --creds');
        return new CliError(`unauthorized: ${msg}`, `the stored credentials for ${host} were refused (password changed, token revoked or expired?); run: hatoba login ${host}`);
      case 'NAME_UNKNOWN':
      case 'MANIFEST_UNKNOWN':
      case 'NOT_FOUND':
        return new CliError(`not found: ${err.message}`, err.repository ? `list what is there with: hatoba tag ls ${host}/${err.repository}` : undefined);
      case 'TOOMANYREQUESTS':
        return new CliError(`too many requests: ${msg}`, `wait${err.retryAfter ? ` ${err.retryAfter} s` : ' a little'} and try again`);
      default:
        if (err.status >= 500) return new CliError(`registry error (${err.status}): ${err.message}`, 'try again later, or tell the registry operator (the server log has the details)');
        return new CliError(err.message);
    }
  }
  if (err instanceof RegistryConnectionError) {
    const where = conn?.url ?? err.url;
    const text = `${err.code ?? ''} ${err.message}`;
    if (/EPROTO|SSL|TLS|CERT|certificate|wrong version number/i.test(text)) {
      return new CliError(`cannot talk to ${where}: ${err.message.split('\n')[0]}`, where.startsWith('https:') ? `if the registry speaks plain HTTP, add --insecure` : 'check the address');
    }
    if (err.code === 'ECONNREFUSED') return new CliError(`cannot reach ${where}: connection refused`, 'is the registry running there? Check the host and port');
    if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return new CliError(`cannot reach ${where}: unknown host`, 'check the registry name');
    if (err.code === 'ECONNRESET' && where.startsWith('http:')) return new CliError(`cannot reach ${where}: the connection was reset`, 'if the registry speaks HTTPS, leave out --insecure');
    return new CliError(`cannot reach ${where}: ${err.message}`);
  }
  if (err instanceof DigestMismatchError) return new CliError(err.message, 'try again; if it happens again the source content is damaged');
  if (err instanceof ImageArchiveError) {
    const hint =
      err.code === 'TRUNCATED' || err.code === 'CORRUPT_COMPRESSION' || err.code === 'CORRUPT_TAR' || err.code === 'DIGEST_MISMATCH' || err.code === 'SIZE_MISMATCH'
        ? 'the file is damaged or incomplete: download or save it again (nothing was pushed)'
        : err.code === 'NOT_AN_ARCHIVE'
          ? 'give a tarball written by docker save, skopeo (docker-archive: or oci-archive:) or an OCI layout directory'
          : undefined;
    return new CliError(`cannot read the image archive: ${err.message}`, hint);
  }
  if (err instanceof S3Error) return new CliError(err.message, 'S3 settings come from --s3-endpoint/--s3-region/--s3-profile, AWS_* variables, ~/.aws/credentials and ~/.s3cfg');
  if (err instanceof RegistryClientError) return new CliError(err.message);
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOSPC' || code === 'EISDIR') return new CliError((err as Error).message);
  return explain(err);
}

/** Runs a command body; every failure leaves as a CliError, worded for the registry it came from. */
export async function guarded<T>(body: (track: (c: Connection) => Connection) => Promise<T>): Promise<T> {
  const conns: Connection[] = [];
  try {
    return await body((c) => (conns.push(c), c));
  } catch (err) {
    const url = (err as { url?: string } | undefined)?.url;
    let origin: string | undefined;
    try {
      origin = url ? new URL(url).origin : undefined;
    } catch {
      origin = undefined;
    }
    const conn = conns.find((c) => c.url === origin) ?? conns.at(-1);
    throw explainImageError(err, conn);
  } finally {
    for (const c of conns) c.client.close();
  }
}
