// The OCI Distribution API under /v2/. Repository names contain slashes,
// so the path is matched here against the spec's endpoint shapes rather
// than by the router; each handler parses its input once into domain types
// and calls the registry.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { principalName } from '../auth/principal.js';
import { DigestFormatError, parseDigest, type Digest } from '../formats/digest.js';
import { parseContentRange, RangeFormatError, type ByteRange } from '../formats/http-range.js';
import { parseManifestReference, parseRepositoryName, ReferenceFormatError, referenceString, type ManifestReference, type RepositoryName } from '../formats/reference.js';
import { RegistryError } from '../formats/error-codes.js';
import { manifestTooLarge } from '../registry/manifests.js';
import type { Registry } from '../registry/registry.js';
import type { AccessGuard } from './access.js';
import { sendBlobFile } from './blob-send.js';
import { setRouteTemplate } from './route-label.js';
import { isDistributionPath } from './errors.js';
import { BodyTooLargeError, hasBody, readLimited } from './request-body.js';

const API_VERSION_HEADER = 'Docker-Distribution-API-Version';
/** Largest page a client can ask for with `n`. */
const MAX_PAGE = 10_000;
const DEFAULT_CATALOG_PAGE = 100;

type Query = Record<string, string | string[] | undefined>;
type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Handler = (req: FastifyRequest, reply: FastifyReply, params: string[]) => Promise<unknown>;

export function distributionRoutes(app: FastifyInstance, registry: Registry, guard: AccessGuard): void {
  const { blobs, uploads, manifests } = registry;
  const audit = guard.identity.audit;

  // Endpoint shapes of the spec, most specific first. The first capture
  // group is always the repository name; `route` is the template that
  // metrics count the endpoint under (route-label.ts).
  const endpoints: { pattern: RegExp; route: string; methods: Partial<Record<Method, Handler>> }[] = [
    { pattern: /^$/, route: '/v2/', methods: { GET: base, HEAD: base } },
    { pattern: /^_catalog$/, route: '/v2/_catalog', methods: { GET: catalog } },
    { pattern: /^(.+)\/tags\/list$/, route: '/v2/{name}/tags/list', methods: { GET: tagsList } },
    { pattern: /^(.+)\/manifests\/([^/]+)$/, route: '/v2/{name}/manifests/{reference}', methods: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest } },
    { pattern: /^(.+)\/blobs\/uploads\/?$/, route: '/v2/{name}/blobs/uploads/', methods: { POST: startUpload } },
    { pattern: /^(.+)\/blobs\/uploads\/([^/]+)$/, route: '/v2/{name}/blobs/uploads/{id}', methods: { GET: uploadStatus, PATCH: patchUpload, PUT: completeUpload, DELETE: cancelUpload } },
    { pattern: /^(.+)\/blobs\/([^/]+)$/, route: '/v2/{name}/blobs/{digest}', methods: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob } },
    { pattern: /^(.+)\/referrers\/([^/]+)$/, route: '/v2/{name}/referrers/{digest}', methods: { GET: referrers } },
  ];

  app.addHook('onRequest', async (req, reply) => {
    if (isDistributionPath(req.url)) reply.header(API_VERSION_HEADER, 'registry/2.0');
  });

  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/v2/*',
    handler: async (req, reply) => {
      const path = req.url.split('?', 1)[0]!.slice('/v2/'.length);
      for (const endpoint of endpoints) {
        const m = endpoint.pattern.exec(path);
        if (!m) continue;
        setRouteTemplate(req, endpoint.route);
        const handler = endpoint.methods[req.method as Method];
        if (!handler) {
          reply.header('Allow', Object.keys(endpoint.methods).join(', '));
          throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on this endpoint`, undefined, 405);
        }
        try {
          return await handler(req, reply, m.slice(1));
        } catch (err) {
          // Every 401 tells the client where to get a token.
          if (err instanceof RegistryError && err.code === 'UNAUTHORIZED' && !reply.hasHeader('WWW-Authenticate')) guard.challenge(req, reply);
          throw err;
        }
      }
      throw new RegistryError('UNSUPPORTED', 'no such endpoint: the path is not an OCI distribution route', { path: path.slice(0, 200) }, 404);
    },
  });
  app.route({
    method: ['GET', 'HEAD'],
    url: '/v2',
    handler: async (req, reply) => {
      try {
        return await base(req, reply);
      } catch (err) {
        if (err instanceof RegistryError && err.code === 'UNAUTHORIZED' && !reply.hasHeader('WWW-Authenticate')) guard.challenge(req, reply);
        throw err;
      }
    },
  });

  async function base(req: FastifyRequest, reply: FastifyReply) {
    await guard.requireCredentials(req, reply);
    return reply.type('application/json; charset=utf-8').send('{}');
  }

  // --- blobs ---------------------------------------------------------------

  async function getBlob(req: FastifyRequest, reply: FastifyReply, [rawName, rawDigest]: string[]) {
    const name = repositoryName(rawName!);
    const digest = digestParam(rawDigest!);
    await guard.require(req, reply, 'pull', name);
    if (req.method === 'HEAD') {
      const size = await blobs.size(name, digest);
      return blobHeaders(reply, digest).header('Content-Length', size).send();
    }
    // Authorized above: only now may the client have a URL that needs no credentials.
    const redirect = await blobs.redirectUrl(name, digest);
    if (redirect) return reply.code(307).header('Location', redirect).header('Docker-Content-Digest', digest).header('Content-Length', 0).send();
    const read = await blobs.open(name, digest, req.headers.range);
    blobHeaders(reply, digest);
    const start = read.range?.start ?? 0;
    const length = read.range ? read.range.end - start + 1 : read.size;
    if (read.range) reply.code(206).header('Content-Range', `bytes ${start}-${read.range.end}/${read.size}`);
    reply.header('Content-Length', length);
    const { content } = read;
    if (content.kind === 'file') return sendBlobFile(req, reply, content.file, start, length);
    if (content.kind === 'bytes') return reply.send(content.data);
    return reply.send(content.kind === 'stream' ? content.body : undefined);
  }

  async function deleteBlob(req: FastifyRequest, reply: FastifyReply, [rawName, rawDigest]: string[]) {
    const name = repositoryName(rawName!);
    const digest = digestParam(rawDigest!);
    const principal = await guard.require(req, reply, 'delete', name);
    await blobs.unlink(name, digest);
    await audit.record({ principal, action: 'blob.delete', resource: `${name}@${digest}`, result: 'allowed', remote: req.ip });
    return reply.code(202).header('Content-Length', 0).send();
  }

  // --- uploads -------------------------------------------------------------

  async function startUpload(req: FastifyRequest, reply: FastifyReply, [rawName]: string[]) {
    const name = repositoryName(rawName!);
    const principal = await guard.require(req, reply, 'push', name);
    const query = req.query as Query;
    const mount = first(query.mount);
    const from = first(query.from);
    if (mount !== undefined && from !== undefined) {
      const mountDigest = tryParse(() => parseDigest(mount));
      const fromName = tryParse(() => parseRepositoryName(from));
      // An unusable mount (including one from a repository the caller
      // may not pull from) falls back to a normal upload, as the spec says.
      if (mountDigest && fromName && (await guard.allows(await guard.auth(req), 'pull', fromName)) && (await blobs.mount(name, mountDigest, fromName)) !== undefined) {
        await audit.record({ principal, action: 'blob.mount', resource: `${name}@${mountDigest}`, result: 'allowed', remote: req.ip, detail: { from: fromName } });
        return blobCreated(reply, name, mountDigest);
      }
    }
    const digestValue = first(query.digest);
    if (digestValue !== undefined) {
      const digest = digestParam(digestValue);
      await uploads.monolithic(name, digest, req.raw);
      await audit.record({ principal, action: 'blob.push', resource: `${name}@${digest}`, result: 'allowed', remote: req.ip });
      return blobCreated(reply, name, digest);
    }
    const state = await uploads.start(name, principalName(principal));
    return uploadAccepted(reply.code(202), name, state.id, state.size);
  }

  async function uploadStatus(req: FastifyRequest, reply: FastifyReply, [rawName, id]: string[]) {
    const name = repositoryName(rawName!);
    await guard.require(req, reply, 'push', name);
    const state = await uploads.status(name, id!);
    return uploadAccepted(reply.code(204), name, state.id, state.size);
  }

  async function patchUpload(req: FastifyRequest, reply: FastifyReply, [rawName, id]: string[]) {
    const name = repositoryName(rawName!);
    await guard.require(req, reply, 'push', name);
    const state = await withUploadLocation(reply, name, id!, () => uploads.append(name, id!, req.raw, chunkRange(req)));
    return uploadAccepted(reply.code(202), name, state.id, state.size);
  }

  async function completeUpload(req: FastifyRequest, reply: FastifyReply, [rawName, id]: string[]) {
    const name = repositoryName(rawName!);
    const principal = await guard.require(req, reply, 'push', name);
    const digestValue = first((req.query as Query).digest);
    if (digestValue === undefined) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
    const digest = digestParam(digestValue);
    const lastChunk = hasBody(req.raw) ? { body: req.raw, range: chunkRange(req) } : undefined;
    await withUploadLocation(reply, name, id!, () => uploads.complete(name, id!, digest, lastChunk));
    await audit.record({ principal, action: 'blob.push', resource: `${name}@${digest}`, result: 'allowed', remote: req.ip });
    return blobCreated(reply, name, digest);
  }

  async function cancelUpload(req: FastifyRequest, reply: FastifyReply, [rawName, id]: string[]) {
    const name = repositoryName(rawName!);
    await guard.require(req, reply, 'push', name);
    await uploads.cancel(name, id!);
    return reply.code(204).send();
  }

  /** A 416 on an upload tells the client where the session is, so it can resume. */
  async function withUploadLocation<T>(reply: FastifyReply, name: RepositoryName, id: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof RegistryError && err.status === 416) {
        reply.header('Location', `/v2/${name}/blobs/uploads/${id}`).header('Docker-Upload-UUID', id).header('Blob-Upload-Session-ID', id);
      }
      throw err;
    }
  }

  // --- manifests -----------------------------------------------------------

  async function getManifest(req: FastifyRequest, reply: FastifyReply, [rawName, rawRef]: string[]) {
    const name = repositoryName(rawName!);
    await guard.require(req, reply, 'pull', name);
    const manifest = await manifests.get(name, existingReference(rawRef!));
    reply
      .header('Content-Type', manifest.mediaType)
      .header('Content-Length', manifest.size)
      .header('Docker-Content-Digest', manifest.digest)
      .header('ETag', `"${manifest.digest}"`);
    if (req.method === 'HEAD') return reply.send();
    return reply.send(Buffer.from(manifest.content.buffer, manifest.content.byteOffset, manifest.content.byteLength));
  }

  async function putManifest(req: FastifyRequest, reply: FastifyReply, [rawName, rawRef]: string[]) {
    const name = repositoryName(rawName!);
    const principal = await guard.require(req, reply, 'push', name);
    const reference = manifestReference(rawRef!);
    let content: Buffer;
    try {
      content = await readLimited(req.raw, manifests.maxBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) throw manifestTooLarge(err.size, err.limit);
      throw err;
    }
    const result = await manifests.put(name, reference, content, req.headers['content-type']);
    await audit.record({ principal, action: 'manifest.push', resource: `${name}:${referenceString(reference)}`, result: 'allowed', remote: req.ip, detail: { digest: result.digest } });
    reply.code(201).header('Location', `/v2/${name}/manifests/${result.digest}`).header('Docker-Content-Digest', result.digest).header('Content-Length', 0);
    if (result.subject) reply.header('OCI-Subject', result.subject);
    return reply.send();
  }

  async function deleteManifest(req: FastifyRequest, reply: FastifyReply, [rawName, rawRef]: string[]) {
    const name = repositoryName(rawName!);
    const principal = await guard.require(req, reply, 'delete', name);
    const reference = existingReference(rawRef!);
    await manifests.delete(name, reference);
    await audit.record({ principal, action: reference.kind === 'tag' ? 'tag.delete' : 'manifest.delete', resource: `${name}:${referenceString(reference)}`, result: 'allowed', remote: req.ip });
    return reply.code(202).header('Content-Length', 0).send();
  }

  // --- listings ------------------------------------------------------------

  async function tagsList(req: FastifyRequest, reply: FastifyReply, [rawName]: string[]) {
    const name = repositoryName(rawName!);
    await guard.require(req, reply, 'pull', name);
    const query = req.query as Query;
    const n = pageSize(first(query.n), undefined);
    const last = first(query.last);
    if (n === undefined && last === undefined) {
      // The whole list, as skopeo and regclient ask for it: the cached body.
      const list = await manifests.tagList(name);
      return reply.type('application/json; charset=utf-8').send(list.body);
    }
    const page = await manifests.tags(name, n, last);
    if (page.more && n !== undefined && page.tags.length > 0) nextLink(reply, `/v2/${name}/tags/list`, n, page.tags.at(-1)!);
    return reply.send({ name, tags: page.tags });
  }

  async function catalog(req: FastifyRequest, reply: FastifyReply) {
    const auth = await guard.requireCredentials(req, reply);
    const query = req.query as Query;
    const n = pageSize(first(query.n), DEFAULT_CATALOG_PAGE)!;
    // Only the repositories the caller may pull from are listed.
    const may = await guard.identity.authorizer.decider(auth.principal);
    const page = await registry.catalog(n, first(query.last), async (name) => may('pull', name));
    if (page.more && page.repositories.length > 0) nextLink(reply, '/v2/_catalog', n, page.repositories.at(-1)!);
    return reply.send({ repositories: page.repositories });
  }

  async function referrers(req: FastifyRequest, reply: FastifyReply, [rawName, rawDigest]: string[]) {
    const name = repositoryName(rawName!);
    const subject = digestParam(rawDigest!);
    await guard.require(req, reply, 'pull', name);
    const artifactType = first((req.query as Query).artifactType);
    const index = await manifests.referrers(name, subject, artifactType);
    if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType');
    return reply.type('application/vnd.oci.image.index.v1+json').send(Buffer.from(JSON.stringify(index)));
  }
}

// --- parsing at the edge -----------------------------------------------------

function repositoryName(raw: string): RepositoryName {
  try {
    return parseRepositoryName(raw);
  } catch (err) {
    if (err instanceof ReferenceFormatError) throw new RegistryError('NAME_INVALID', err.message, { name: raw.slice(0, 255) });
    throw err;
  }
}

function digestParam(raw: string): Digest {
  try {
    return parseDigest(decodeURIComponent(raw));
  } catch (err) {
    if (err instanceof DigestFormatError || err instanceof URIError) throw new RegistryError('DIGEST_INVALID', err.message);
    throw err;
  }
}

/** The reference of a manifest PUT: a tag that is not valid syntax makes the manifest invalid. */
function manifestReference(raw: string): ManifestReference {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    throw new RegistryError('MANIFEST_INVALID', 'the reference is not valid URL encoding');
  }
  try {
    return parseManifestReference(value);
  } catch (err) {
    if (err instanceof DigestFormatError) throw new RegistryError('DIGEST_INVALID', err.message);
    if (err instanceof ReferenceFormatError) throw new RegistryError('MANIFEST_INVALID', err.message, { tag: value.slice(0, 200) });
    throw err;
  }
}

/**
 * The reference of a manifest read or delete: a tag that is not valid
 * syntax names no manifest, so it is unknown (as the conformance suite
 * expects), not a client error.
 */
function existingReference(raw: string): ManifestReference {
  try {
    return manifestReference(raw);
  } catch (err) {
    if (err instanceof RegistryError && err.code === 'MANIFEST_INVALID') throw new RegistryError('MANIFEST_UNKNOWN', `${err.message}; no manifest can have this reference`);
    throw err;
  }
}

function chunkRange(req: FastifyRequest): ByteRange | undefined {
  const header = req.headers['content-range'];
  if (header === undefined) return undefined;
  let range: ByteRange;
  try {
    range = parseContentRange(header);
  } catch (err) {
    if (err instanceof RangeFormatError) throw new RegistryError('BLOB_UPLOAD_INVALID', err.message, undefined, 416);
    throw err;
  }
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) !== range.end - range.start + 1) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', `Content-Range ${header} does not match Content-Length ${length}`, undefined, 416);
  }
  return range;
}

function pageSize(raw: string | undefined, fallback: number | undefined): number | undefined {
  if (raw === undefined || raw === '') return fallback;
  // The spec has no code for a bad page size; distribution's PAGINATION_NUMBER_INVALID is not one of its 14.
  if (!/^\d+$/.test(raw)) throw new RegistryError('UNSUPPORTED', `n must be a non-negative integer, not "${raw.slice(0, 20)}"`, { n: raw.slice(0, 20) }, 400);
  return Math.min(Number(raw), MAX_PAGE);
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function tryParse<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}

// --- response shapes ---------------------------------------------------------

function blobHeaders(reply: FastifyReply, digest: Digest): FastifyReply {
  return reply
    .header('Content-Type', 'application/octet-stream')
    .header('Docker-Content-Digest', digest)
    .header('Accept-Ranges', 'bytes')
    .header('ETag', `"${digest}"`)
    .header('Cache-Control', 'max-age=31536000');
}

function blobCreated(reply: FastifyReply, name: RepositoryName, digest: Digest): FastifyReply {
  return reply.code(201).header('Location', `/v2/${name}/blobs/${digest}`).header('Docker-Content-Digest', digest).header('Content-Length', 0).send();
}

function uploadAccepted(reply: FastifyReply, name: RepositoryName, id: string, size: number): FastifyReply {
  return reply
    .header('Location', `/v2/${name}/blobs/uploads/${id}`)
    .header('Range', `0-${Math.max(0, size - 1)}`)
    .header('Docker-Upload-UUID', id)
    .header('Blob-Upload-Session-ID', id)
    .header('Content-Length', 0)
    .send();
}

function nextLink(reply: FastifyReply, path: string, n: number, last: string): void {
  reply.header('Link', `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`);
}
