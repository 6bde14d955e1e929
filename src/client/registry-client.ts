// The registry client the CLI (`hatoba image push/pull/copy`) and
// replication use: the OCI distribution API of any registry (Hatoba, CNCF
// distribution, ...) over http(s) with keep-alive, the Docker token flow or
// Basic credentials, streamed and verified blob transfers (HEAD skip,
// cross-repository mount, monolithic or chunked upload with resume), and
// manifests, tags and referrers. copyImage and pushImage (image-copy.ts)
// build on it.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ChunkReader, countingStream, toBuffer, type BlobSource, type BlobTransferState, type ProgressListener } from './blob-transfer.js';
import { Authenticator, repositoryScope, type AuthOptions, type Scope } from './registry-auth.js';
import { DigestMismatchError, RegistryApiError, RegistryClientError, RegistryConnectionError, parseErrorBody, type RequestContext } from './registry-errors.js';
import { HttpTransport, type HttpResponse, type RequestBody, type TransportOptions } from './registry-http.js';

export * from './blob-transfer.js';
export * from './registry-auth.js';
export * from './registry-errors.js';
export { HttpTransport, type HttpResponse, type RequestEvent, type TransportOptions } from './registry-http.js';
export * from './image-copy.js';

export const OCI_MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST_TYPE = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** What GET manifest asks for: OCI and Docker, images and indexes. */
export const MANIFEST_ACCEPT = [OCI_INDEX_TYPE, OCI_MANIFEST_TYPE, DOCKER_MANIFEST_LIST_TYPE, DOCKER_MANIFEST_TYPE];
const MANIFEST_TYPES = new Set(MANIFEST_ACCEPT);
export const INDEX_TYPES: ReadonlySet<string> = new Set([OCI_INDEX_TYPE, DOCKER_MANIFEST_LIST_TYPE]);

const MiB = 1024 * 1024;

export interface RegistryClientOptions extends AuthOptions, TransportOptions {
  /** `http://host:port` or `https://host` (a path is ignored). */
  url: string;
  /** PATCH chunk size for large blobs (default 8 MiB). */
  chunkSize?: number;
  /** Blobs up to this size go in one request (`POST ?digest=`); larger ones in chunks (default: chunkSize). */
  monolithicThreshold?: number;
  /** How often a broken blob transfer is resumed where the registry has it (default 3). */
  blobRetries?: number;
  /** Largest manifest accepted from a registry (default 4 MiB). */
  manifestMaxBytes?: number;
}

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface PushBlobOptions {
  /** Repositories on this registry that may have the blob (tried as `?mount=&from=`, in order). */
  from?: string | string[];
  /** Skip the HEAD check (default: check, and skip the upload when the blob is there). */
  checkExists?: boolean;
  chunkSize?: number;
  monolithicThreshold?: number;
  onProgress?: ProgressListener;
}

export interface PushBlobResult extends BlobInfo {
  outcome: 'exists' | 'mounted' | 'uploaded';
}

export interface OpenBlobOptions {
  /** Expected size (checked; also what progress reports as total). */
  size?: number;
  onProgress?: ProgressListener;
}

export interface Manifest {
  /** Exactly the bytes the registry holds. */
  bytes: Buffer;
  mediaType: string;
  digest: string;
  size: number;
}

export interface ManifestInfo {
  mediaType: string;
  digest: string;
  size: number;
}

export interface PutManifestResult {
  digest: string;
  location?: string;
  /** `OCI-Subject` from the registry: it indexed the manifest's subject (referrers API). */
  subject?: string;
}

/** A descriptor of the referrers API's index. */
export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

interface SendRequest {
  method: string;
  url: URL | string;
  scopes: Scope[];
  expect: number[];
  headers?: Record<string, string>;
  body?: RequestBody;
  operation: string;
  repository?: string;
  action?: string;
}

export class RegistryClient {
  /** Base URL, e.g. `https://registry.example` (origin only). */
  readonly url: string;
  /** `host[:port]`. */
  readonly registry: string;
  readonly transport: HttpTransport;
  readonly auth: Authenticator;
  private readonly base: URL;
  private readonly chunkSize: number;
  private readonly monolithicThreshold: number;
  private readonly blobRetries: number;
  private readonly manifestMaxBytes: number;
  /** This registry answered `POST ?digest=` with a session (202): use POST + PUT from now on. */
  private noSinglePost = false;

  constructor(options: RegistryClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new RegistryClientError(`"${options.url}" is not a registry URL: use http(s)://host[:port]`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new RegistryClientError(`unsupported scheme ${base.protocol} in ${options.url}: use http:// or https://`);
    this.base = new URL(base.origin);
    this.url = base.origin;
    this.registry = base.host;
    this.transport = new HttpTransport(options);
    this.auth = new Authenticator(this.transport, this.base, options);
    this.chunkSize = positive(options.chunkSize, 8 * MiB, 'chunkSize');
    this.monolithicThreshold = options.monolithicThreshold ?? this.chunkSize;
    this.blobRetries = options.blobRetries ?? 3;
    this.manifestMaxBytes = options.manifestMaxBytes ?? 4 * MiB;
  }

  /** Closes idle keep-alive connections (the process can then exit). */
  close(): void {
    this.transport.close();
  }

  /** Whether the other client talks to the same registry (so blobs can be mounted across repositories). */
  sameRegistry(other: RegistryClient): boolean {
    return this.url === other.url;
  }

  /** `GET /v2/` with the credentials: checks the registry is there and the sign-in works (as `docker login` does). */
  async ping(): Promise<void> {
    const res = await this.send({ method: 'GET', url: '/v2/', scopes: [], expect: [200], operation: `sign in to ${this.registry}` });
    await res.drain();
  }

  // --- blobs ------------------------------------------------------------------

  /** HEAD: the blob's size if the repository has it, else undefined. */
  async blobExists(repository: string, digest: string, scopes: Scope[] = [repositoryScope(repository, 'pull')]): Promise<BlobInfo | undefined> {
    const res = await this.send({
      method: 'HEAD',
      url: `/v2/${repository}/blobs/${digest}`,
      scopes,
      expect: [200, 404],
      operation: `check blob ${short(digest)} in ${repository}`,
      repository,
      // Before an upload the check asks for push too: a refusal is a refusal to push.
      action: scopes.some((s) => s.name === repository && s.actions.includes('push')) ? 'push' : 'pull',
    });
    await res.drain();
    if (res.status === 404) return undefined;
    return { digest, size: Number(res.header('content-length') ?? -1) };
  }

  /**
   * Streams a blob. The stream fails (instead of ending) if the bytes do not
   * match the digest or size, so a consumer that writes to a temporary file
   * and renames on 'end' never keeps corrupt content. A connection that
   * breaks midway is resumed with `Range` where it stopped.
   */
  async openBlob(repository: string, digest: string, options: OpenBlobOptions = {}): Promise<Readable> {
    const algorithm = digestAlgorithm(digest);
    const first = await this.blobRequest(repository, digest, 0);
    const headerSize = Number(first.header('content-length'));
    const total = options.size ?? (Number.isFinite(headerSize) ? headerSize : undefined);
    if (options.size !== undefined && Number.isFinite(headerSize) && headerSize !== options.size) {
      first.body.destroy();
      throw new DigestMismatchError(digest, '', `blob ${digest} from ${repository}`, options.size, headerSize);
    }
    const self = this;
    const report = (state: BlobTransferState, bytes: number) => options.onProgress?.({ digest, repository, state, bytes, total: total ?? -1 });
    async function* bytes() {
      const hash = createHash(algorithm);
      let received = 0;
      let res = first;
      let skip = 0;
      let retries = 0;
      report('downloading', 0);
      try {
        for (;;) {
          try {
            for await (const chunk of res.body) {
              let buf = toBuffer(chunk);
              if (skip > 0) {
                const n = Math.min(skip, buf.length);
                skip -= n;
                buf = buf.subarray(n);
                if (buf.length === 0) continue;
              }
              received += buf.length;
              if (total !== undefined && received > total) throw new DigestMismatchError(digest, '', `blob ${digest} from ${repository}`, total, received);
              hash.update(buf);
              report('downloading', received);
              yield buf;
            }
            // The response ended cleanly (a cut connection throws above): fewer bytes is wrong content.
            if (total !== undefined && received < total) throw new DigestMismatchError(digest, '', `blob ${digest} from ${repository}`, total, received);
            break;
          } catch (err) {
            if (!isTransient(err) || retries >= self.blobRetries) throw err instanceof DigestMismatchError || err instanceof RegistryApiError ? err : asConnectionError(err, res.url.href);
            retries++;
            res.body.destroy();
            res = await self.blobRequest(repository, digest, received);
            // A registry that ignores Range sends everything again.
            skip = res.status === 200 ? received : 0;
          }
        }
      } finally {
        if (!res.body.readableEnded) res.body.destroy();
      }
      const actual = `${algorithm}:${hash.digest('hex')}`;
      if (actual !== digest) throw new DigestMismatchError(digest, actual, `blob ${digest} from ${repository}`);
      report('done', received);
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  /** A whole (small) blob in memory, verified: configs, signatures. */
  async getBlob(repository: string, digest: string, limit = 16 * MiB): Promise<Buffer> {
    const stream = await this.openBlob(repository, digest);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        stream.destroy();
        throw new RegistryClientError(`blob ${digest} in ${repository} is larger than ${limit} bytes; stream it with openBlob`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /**
   * Pushes a blob without ever holding it whole: skipped if the repository
   * has it, mounted from `from` when possible, else one `POST ?digest=`
   * (small) or `POST`, `PATCH`es of `chunkSize` and `PUT` (large), resumed
   * after a broken connection from where the registry says it is.
   */
  async pushBlob(repository: string, source: BlobSource, options: PushBlobOptions = {}): Promise<PushBlobResult> {
    const { digest, size } = source;
    digestAlgorithm(digest);
    const scopes = [repositoryScope(repository, 'pull', 'push')];
    const report = (state: BlobTransferState, bytes: number) => options.onProgress?.({ digest, repository, state, bytes, total: size });
    const what = `push blob ${short(digest)} to ${repository}`;

    if (options.checkExists !== false) {
      report('checking', 0);
      if (await this.blobExists(repository, digest, scopes)) {
        report('exists', size);
        return { digest, size, outcome: 'exists' };
      }
    }

    let location: URL | undefined;
    const froms = (options.from === undefined ? [] : Array.isArray(options.from) ? options.from : [options.from]).filter((f) => f !== repository);
    for (const from of froms) {
      const res = await this.send({
        method: 'POST',
        url: `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
        scopes: [...scopes, repositoryScope(from, 'pull')],
        expect: [201, 202],
        operation: `mount blob ${short(digest)} from ${from} into ${repository}`,
        repository,
        action: 'push',
      });
      await res.drain();
      if (res.status === 201) {
        report('mounted', size);
        return { digest, size, outcome: 'mounted' };
      }
      // 202: the registry could not mount, and opened an upload session instead.
      location = this.location(res, what);
      break;
    }

    const threshold = options.monolithicThreshold ?? this.monolithicThreshold;
    const whole = (): RequestBody => ({
      length: size,
      open: async () => {
        report('uploading', 0);
        let done = 0;
        return countingStream(await source.open(), size, `blob ${digest}`, (n) => report('uploading', (done += n)));
      },
    });

    if (!location && size <= threshold && !this.noSinglePost) {
      const res = await this.send({
        method: 'POST',
        url: `/v2/${repository}/blobs/uploads/?digest=${encodeURIComponent(digest)}`,
        scopes,
        expect: [201, 202],
        headers: { 'content-type': 'application/octet-stream' },
        body: whole(),
        operation: what,
        repository,
        action: 'push',
      });
      await res.drain();
      if (res.status === 201) {
        this.checkCreated(res, digest, what);
        report('done', size);
        return { digest, size, outcome: 'uploaded' };
      }
      // 202: this registry has no single-request upload (CNCF distribution); the session it opened takes the bytes again.
      this.noSinglePost = true;
      location = this.location(res, what);
    }

    if (!location) {
      const res = await this.send({ method: 'POST', url: `/v2/${repository}/blobs/uploads/`, scopes, expect: [202], operation: what, repository, action: 'push' });
      await res.drain();
      location = this.location(res, what);
    }

    if (size <= threshold) {
      const res = await this.send({ method: 'PUT', url: withDigest(location, digest), scopes, expect: [201], headers: { 'content-type': 'application/octet-stream' }, body: whole(), operation: what, repository, action: 'push' });
      await res.drain();
      this.checkCreated(res, digest, what);
    } else {
      await this.uploadChunks(repository, location, source, options.chunkSize ?? this.chunkSize, scopes, what, report);
    }
    report('done', size);
    return { digest, size, outcome: 'uploaded' };
  }

  private async uploadChunks(repository: string, start: URL, source: BlobSource, chunkSize: number, scopes: Scope[], what: string, report: (s: BlobTransferState, n: number) => void): Promise<void> {
    const { digest, size } = source;
    let location = start;
    let offset = 0;
    let retries = 0;
    const open = async (at: number) => {
      const reader = new ChunkReader(await source.open(), () => report('uploading', reader.position));
      await reader.skip(at);
      return reader;
    };
    let reader = await open(0);
    report('uploading', 0);
    try {
      for (;;) {
        try {
          while (offset < size) {
            const length = Math.min(chunkSize, size - offset);
            const end = offset + length - 1;
            const res = await this.send({
              method: 'PATCH',
              url: location,
              scopes,
              expect: [202, 204],
              headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end}`, 'content-length': String(length) },
              body: reader.next(length),
              operation: `${what} (bytes ${offset}-${end} of ${size})`,
              repository,
              action: 'push',
            });
            await res.drain();
            location = this.location(res, what);
            const range = parseRangeEnd(res.header('range'));
            if (range !== undefined && range !== end) {
              throw new RegistryClientError(`${what}: after bytes ${offset}-${end} the registry reports it has 0-${range}`);
            }
            offset = end + 1;
          }
          if (await reader.more()) throw new DigestMismatchError(digest, '', `blob ${digest}`, size, size + 1);
          break;
        } catch (err) {
          if (!isTransient(err) || retries >= this.blobRetries) throw err;
          retries++;
          await reader.close().catch(() => undefined);
          // Where is the session? Continue from there.
          const status = await this.send({ method: 'GET', url: location, scopes, expect: [204, 200], operation: `${what} (resume)`, repository, action: 'push' });
          await status.drain();
          location = this.location(status, what);
          const have = parseRangeEnd(status.header('range'));
          offset = have === undefined || have === 0 ? 0 : have + 1;
          reader = await open(offset);
        }
      }
    } catch (err) {
      // Leave no session behind (best effort).
      await this.send({ method: 'DELETE', url: location, scopes, expect: [204, 202, 200, 404], operation: `${what} (cancel)` })
        .then((r) => r.drain())
        .catch(() => undefined);
      throw err;
    } finally {
      await reader.close().catch(() => undefined);
    }
    const res = await this.send({ method: 'PUT', url: withDigest(location, digest), scopes, expect: [201], operation: what, repository, action: 'push' });
    await res.drain();
    this.checkCreated(res, digest, what);
  }

  async deleteBlob(repository: string, digest: string): Promise<void> {
    const res = await this.send({ method: 'DELETE', url: `/v2/${repository}/blobs/${digest}`, scopes: [repositoryScope(repository, 'delete')], expect: [200, 202, 204], operation: `delete blob ${short(digest)} from ${repository}`, repository, action: 'delete' });
    await res.drain();
  }

  private blobRequest(repository: string, digest: string, from: number): Promise<HttpResponse> {
    return this.send({
      method: 'GET',
      url: `/v2/${repository}/blobs/${digest}`,
      scopes: [repositoryScope(repository, 'pull')],
      expect: from > 0 ? [200, 206] : [200],
      headers: from > 0 ? { range: `bytes=${from}-` } : {},
      operation: `pull blob ${short(digest)} from ${repository}`,
      repository,
      action: 'pull',
    });
  }

  // --- manifests ----------------------------------------------------------------

  /** Fetches a manifest by tag or digest; verifies the digest (always when asked by digest). */
  async getManifest(repository: string, reference: string, options: { accept?: string[] } = {}): Promise<Manifest> {
    const res = await this.send({
      method: 'GET',
      url: `/v2/${repository}/manifests/${reference}`,
      scopes: [repositoryScope(repository, 'pull')],
      expect: [200],
      headers: { accept: (options.accept ?? MANIFEST_ACCEPT).join(', ') },
      operation: `pull manifest ${repository}${refSuffix(reference)}`,
      repository,
      action: 'pull',
    });
    const bytes = await res.buffer(this.manifestMaxBytes);
    const mediaType = manifestMediaType(res.header('content-type'), bytes);
    const what = `manifest ${repository}${refSuffix(reference)}`;
    const byDigest = reference.includes(':');
    const claimed = byDigest ? reference : res.header('docker-content-digest');
    let digest: string;
    if (claimed && /^(sha256|sha512):/.test(claimed)) {
      const actual = `${digestAlgorithm(claimed)}:${createHash(digestAlgorithm(claimed)).update(bytes).digest('hex')}`;
      if (actual !== claimed) throw new DigestMismatchError(claimed, actual, what);
      digest = actual;
    } else {
      digest = sha256(bytes);
    }
    return { bytes, mediaType, digest, size: bytes.length };
  }

  /** HEAD: the manifest's digest, type and size, or undefined if there is none. */
  async headManifest(repository: string, reference: string): Promise<ManifestInfo | undefined> {
    const res = await this.send({
      method: 'HEAD',
      url: `/v2/${repository}/manifests/${reference}`,
      scopes: [repositoryScope(repository, 'pull')],
      expect: [200, 404],
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
      operation: `check manifest ${repository}${refSuffix(reference)}`,
      repository,
      action: 'pull',
    });
    await res.drain();
    if (res.status === 404) return undefined;
    const digest = res.header('docker-content-digest') ?? (reference.includes(':') ? reference : '');
    return { digest, mediaType: bareType(res.header('content-type')) ?? '', size: Number(res.header('content-length') ?? -1) };
  }

  /** Pushes exactly these bytes under a tag or digest. */
  async putManifest(repository: string, reference: string, bytes: Buffer | Uint8Array, mediaType: string): Promise<PutManifestResult> {
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const computed = reference.includes(':') ? `${digestAlgorithm(reference)}:${createHash(digestAlgorithm(reference)).update(body).digest('hex')}` : sha256(body);
    const what = `push manifest ${repository}${refSuffix(reference)}`;
    if (reference.includes(':') && computed !== reference) throw new DigestMismatchError(reference, computed, what);
    const res = await this.send({
      method: 'PUT',
      url: `/v2/${repository}/manifests/${reference}`,
      scopes: [repositoryScope(repository, 'pull', 'push')],
      expect: [200, 201, 202],
      headers: { 'content-type': mediaType },
      body,
      operation: what,
      repository,
      action: 'push',
    });
    await res.drain();
    const returned = res.header('docker-content-digest');
    if (returned && digestAlgorithm(returned) === digestAlgorithm(computed) && returned !== computed) {
      throw new DigestMismatchError(computed, returned, `${what}: the registry stored other bytes than were sent`);
    }
    const out: PutManifestResult = { digest: computed };
    const location = res.header('location');
    if (location) out.location = location;
    const subject = res.header('oci-subject');
    if (subject) out.subject = subject;
    return out;
  }

  /** Deletes a manifest (by digest: with every tag on it) or only a tag. */
  async deleteManifest(repository: string, reference: string): Promise<void> {
    const res = await this.send({ method: 'DELETE', url: `/v2/${repository}/manifests/${reference}`, scopes: [repositoryScope(repository, 'delete')], expect: [200, 202, 204], operation: `delete ${repository}${refSuffix(reference)}`, repository, action: 'delete' });
    await res.drain();
  }

  /** Every tag, following `Link: <...>; rel="next"` pages (of `pageSize` when given). */
  async listTags(repository: string, options: { pageSize?: number } = {}): Promise<string[]> {
    const all: string[] = [];
    for await (const page of this.tagPages(repository, options)) all.push(...page);
    return all;
  }

  async *tagPages(repository: string, options: { pageSize?: number } = {}): AsyncGenerator<string[]> {
    const first = `/v2/${repository}/tags/list${options.pageSize ? `?n=${options.pageSize}` : ''}`;
    for await (const body of this.pages(first, [repositoryScope(repository, 'pull')], `list tags of ${repository}`, repository)) {
      yield Array.isArray(body.tags) ? (body.tags as unknown[]).map(String) : [];
    }
  }

  /** Repositories the credentials may see (`/v2/_catalog`, all pages). */
  async listRepositories(options: { pageSize?: number } = {}): Promise<string[]> {
    const all: string[] = [];
    const first = `/v2/_catalog${options.pageSize ? `?n=${options.pageSize}` : ''}`;
    for await (const body of this.pages(first, [{ type: 'registry', name: 'catalog', actions: ['*'] }], `list repositories of ${this.registry}`)) {
      if (Array.isArray(body.repositories)) all.push(...(body.repositories as unknown[]).map(String));
    }
    return all;
  }

  private async *pages(first: string, scopes: Scope[], operation: string, repository?: string): AsyncGenerator<Record<string, unknown>> {
    let url: URL | undefined = new URL(first, this.base);
    const seen = new Set<string>();
    while (url) {
      seen.add(url.href);
      const res = await this.send({ method: 'GET', url, scopes, expect: [200], headers: { accept: 'application/json' }, operation, repository, action: 'pull' });
      const text = await res.text();
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new RegistryClientError(`${operation}: the registry answered something that is not JSON`);
      }
      yield body;
      const next = nextLink(res.header('link'));
      url = next ? new URL(next, res.url) : undefined;
      if (url && seen.has(url.href)) throw new RegistryClientError(`${operation}: the registry's next page link loops back to ${url.pathname}${url.search}`);
    }
  }

  /**
   * Manifests whose `subject` is `digest` (signatures, SBOMs...). Uses the
   * referrers API, or the tag schema (`sha256-<hex>`) of registries
   * without it; filters by artifactType when the registry did not.
   */
  async referrers(repository: string, digest: string, options: { artifactType?: string } = {}): Promise<ReferrerDescriptor[]> {
    const query = options.artifactType ? `?artifactType=${encodeURIComponent(options.artifactType)}` : '';
    const scopes = [repositoryScope(repository, 'pull')];
    const operation = `list referrers of ${repository}@${short(digest)}`;
    const res = await this.send({ method: 'GET', url: `/v2/${repository}/referrers/${digest}${query}`, scopes, expect: [200, 404], headers: { accept: OCI_INDEX_TYPE }, operation, repository, action: 'pull' });
    let index: unknown;
    let filtered = false;
    if (res.status === 200) {
      index = parseJson(await res.buffer(this.manifestMaxBytes), operation);
      filtered = (res.header('oci-filters-applied') ?? '').split(',').map((s) => s.trim()).includes('artifactType');
    } else {
      await res.drain();
      const fallback = await this.send({ method: 'GET', url: `/v2/${repository}/manifests/${digest.replace(':', '-')}`, scopes, expect: [200, 404], headers: { accept: OCI_INDEX_TYPE }, operation, repository, action: 'pull' });
      if (fallback.status === 404) {
        await fallback.drain();
        return [];
      }
      index = parseJson(await fallback.buffer(this.manifestMaxBytes), operation);
    }
    const manifests = (index as { manifests?: unknown }).manifests;
    if (!Array.isArray(manifests)) throw new RegistryClientError(`${operation}: the answer is not an image index`);
    const out = manifests.filter((m): m is ReferrerDescriptor => typeof m === 'object' && m !== null && typeof (m as ReferrerDescriptor).digest === 'string');
    return options.artifactType && !filtered ? out.filter((m) => m.artifactType === options.artifactType) : out;
  }

  // --- plumbing -------------------------------------------------------------------

  private async send(req: SendRequest): Promise<HttpResponse> {
    let scopes = req.scopes;
    const replayable = req.body === undefined || !(req.body instanceof Readable);
    for (let attempt = 0; ; attempt++) {
      const url = typeof req.url === 'string' ? new URL(req.url, this.base) : req.url;
      // Credentials go only to the registry itself, never to a storage URL it points at.
      const authorization = url.origin === this.base.origin ? await this.auth.authorization(scopes) : undefined;
      const headers: Record<string, string> = { ...req.headers };
      if (authorization) headers.authorization = authorization;
      const res = await this.transport.request({ method: req.method, url, headers, body: req.body });
      if (res.status === 401) {
        const retry = await this.auth.unauthorized(res, scopes, authorization);
        if (retry && attempt === 0 && replayable) {
          await res.drain();
          scopes = retry;
          continue;
        }
      }
      if (req.expect.includes(res.status)) return res;
      throw await this.error(res, { method: req.method, url: url.href, operation: req.operation, repository: req.repository, action: req.action });
    }
  }

  private async error(res: HttpResponse, context: RequestContext): Promise<RegistryApiError> {
    let text = '';
    try {
      text = await res.text(64 * 1024);
    } catch {
      // an unreadable error body: the status says enough
    }
    const parsed = parseErrorBody(text);
    const retryAfter = Number(res.header('retry-after'));
    return new RegistryApiError({ status: res.status, errors: parsed.errors, context, fallbackMessage: parsed.fallback, retryAfter: Number.isFinite(retryAfter) && res.header('retry-after') ? retryAfter : undefined });
  }

  private location(res: HttpResponse, what: string): URL {
    const value = res.header('location');
    if (!value) throw new RegistryClientError(`${what}: the registry answered ${res.status} without a Location`);
    return new URL(value, res.url);
  }

  private checkCreated(res: HttpResponse, digest: string, what: string): void {
    const returned = res.header('docker-content-digest');
    if (returned && returned !== digest && digestAlgorithm(returned) === digestAlgorithm(digest)) {
      throw new DigestMismatchError(digest, returned, `${what}: the registry stored other content`);
    }
  }
}

// --- helpers ----------------------------------------------------------------------

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function digestAlgorithm(digest: string): 'sha256' | 'sha512' {
  const m = /^(sha256|sha512):([a-f0-9]+)$/.exec(digest);
  if (!m || m[2]!.length !== (m[1] === 'sha256' ? 64 : 128)) throw new RegistryClientError(`invalid digest "${digest.slice(0, 80)}": expected sha256:<64 hex> or sha512:<128 hex>`);
  return m[1] as 'sha256' | 'sha512';
}

function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}

function bareType(contentType: string | undefined): string | undefined {
  const bare = contentType?.split(';', 1)[0]!.trim().toLowerCase();
  return bare || undefined;
}

function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const bare = bareType(contentType);
  if (bare && MANIFEST_TYPES.has(bare)) return bare;
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === 'string') return doc.mediaType;
    if (Array.isArray(doc.manifests)) return OCI_INDEX_TYPE;
  } catch {
    // not JSON: keep what the registry said
  }
  return bare ?? OCI_MANIFEST_TYPE;
}

/** The end of `Range: 0-<end>` (also `bytes=0-<end>`). */
function parseRangeEnd(value: string | undefined): number | undefined {
  const m = value ? /^(?:bytes=)?\d+-(\d+)$/.exec(value.trim()) : null;
  return m ? Number(m[1]) : undefined;
}

/** The `rel="next"` target of a Link header. */
export function nextLink(value: string | undefined): string | undefined {
  if (!value) return undefined;
  for (const part of value.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /(?:^|;)\s*rel\s*=\s*"?next"?\s*(?:;|$)/i.test(m[2]!)) return m[1];
  }
  return undefined;
}

function parseJson(bytes: Buffer, operation: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new RegistryClientError(`${operation}: the registry answered something that is not JSON`);
  }
}

function refSuffix(reference: string): string {
  return reference.includes(':') ? `@${reference}` : `:${reference}`;
}

function short(digest: string): string {
  return digest.length > 19 ? `${digest.slice(0, 19)}…` : digest;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new RegistryClientError(`${name} must be a positive integer`);
  return value;
}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNREFUSED', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** Worth resuming: a broken connection, a 5xx, or a 416 (the registry has a different offset). */
function isTransient(err: unknown): boolean {
  if (err instanceof DigestMismatchError || err instanceof RegistryClientError) return false;
  if (err instanceof RegistryApiError) return err.status >= 500 || err.status === 416;
  if (err instanceof RegistryConnectionError) return true;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code !== undefined && TRANSIENT_CODES.has(code)) || (err as Error | undefined)?.message === 'aborted';
}

function asConnectionError(err: unknown, url: string): Error {
  if (err instanceof RegistryConnectionError) return err;
  const e = err as NodeJS.ErrnoException;
  return new RegistryConnectionError(url, `download from ${url.split('?', 1)[0]} broke: ${e?.message ?? String(err)}`, e?.code, { cause: err });
}

