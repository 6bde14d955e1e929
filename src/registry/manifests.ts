// Manifests and tags: storing a manifest after checking everything it
// points at exists in the repository, reading by tag or digest, deleting,
// listing tags (through a version-checked cache of whole tag lists), and
// the referrers API (OCI 1.1 `subject`).
import type { Metadata, ManifestRow } from '../db/metadata.js';
import { digestAlgorithm, digestOf, type Digest } from '../formats/digest.js';
import { ManifestFormatError, parseManifest, type Descriptor } from '../formats/manifest.js';
import { OCI_INDEX } from '../formats/media-types.js';
import type { ManifestReference, RepositoryName } from '../formats/reference.js';
import { RegistryError } from '../formats/error-codes.js';
import { requireRepository } from './repositories.js';
import { indexAfter, TagListCache, tagListFromJson, type TagList } from './tag-list-cache.js';

export const DEFAULT_MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  size: number;
  content: Uint8Array;
}

export interface PutManifestResult {
  digest: Digest;
  subject?: Digest;
}

export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: typeof OCI_INDEX;
  manifests: Descriptor[];
}

export class Manifests {
  constructor(
    private readonly meta: Metadata,
    readonly maxBytes: number = DEFAULT_MANIFEST_MAX_BYTES,
    readonly tagLists: TagListCache = new TagListCache(),
  ) {}

  async put(name: RepositoryName, reference: ManifestReference, content: Uint8Array, contentType?: string): Promise<PutManifestResult> {
    if (content.byteLength > this.maxBytes) throw manifestTooLarge(content.byteLength, this.maxBytes);
    let parsed;
    try {
      parsed = parseManifest(content, contentType);
    } catch (err) {
      if (err instanceof ManifestFormatError) throw new RegistryError('MANIFEST_INVALID', err.message);
      throw err;
    }
    const digest = digestOf(content, reference.kind === 'digest' ? digestAlgorithm(reference.digest) : 'sha256');
    if (reference.kind === 'digest' && reference.digest !== digest) {
      throw new RegistryError('DIGEST_INVALID', `manifest content has digest ${digest}, not ${reference.digest}`, { digest: reference.digest });
    }

    // A rejected manifest must not create the repository, so it is looked
    // up here and created only once everything checks out.
    const existingId = await this.meta.findRepository(name);
    const problems: RegistryError[] = [];
    const sizes = existingId === undefined ? new Map<string, number>() : await this.meta.linkedBlobSizes(existingId, parsed.blobs.map((b) => b.digest));
    for (const blob of parsed.blobs) {
      const size = sizes.get(blob.digest);
      if (size === undefined) {
        problems.push(new RegistryError('MANIFEST_BLOB_UNKNOWN', `blob ${blob.digest} is not in repository ${name}; push it first`, { digest: blob.digest }));
      } else if (size !== blob.size) {
        problems.push(new RegistryError('MANIFEST_INVALID', `descriptor of ${blob.digest} says ${blob.size} bytes; the blob has ${size}`, { digest: blob.digest }));
      }
    }
    const childDigests = parsed.manifests.map((m) => m.digest);
    const missingChildren = existingId === undefined ? [...new Set(childDigests)] : await this.meta.missingManifests(existingId, childDigests);
    for (const child of missingChildren) {
      problems.push(new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest ${child} is not in repository ${name}; push it before the index`, { digest: child }));
    }
    if (problems.length > 0) throw RegistryError.all(problems);
    const repositoryId = existingId ?? (await this.meta.ensureRepository(name));

    await this.meta.putManifest(
      repositoryId,
      {
        digest,
        mediaType: parsed.mediaType,
        artifactType: parsed.artifactType ?? null,
        subjectDigest: parsed.subject?.digest ?? null,
        annotations: parsed.annotations ? JSON.stringify(parsed.annotations) : null,
        content,
        blobDigests: parsed.blobs.map((b) => b.digest),
        childDigests: parsed.manifests.map((m) => m.digest),
      },
      reference.kind === 'tag' ? reference.tag : undefined,
    );
    return { digest, subject: parsed.subject?.digest };
  }

  async get(name: RepositoryName, reference: ManifestReference): Promise<StoredManifest> {
    const repositoryId = await requireRepository(this.meta, name);
    const row =
      reference.kind === 'tag'
        ? await this.meta.manifestByTag(repositoryId, reference.tag)
        : await this.meta.manifestByDigest(repositoryId, reference.digest);
    if (!row) throw manifestUnknown(name, reference);
    return toStored(row);
  }

  /** By digest: the manifest and its tags go. By tag: only the tag goes. */
  async delete(name: RepositoryName, reference: ManifestReference): Promise<void> {
    const repositoryId = await requireRepository(this.meta, name);
    const deleted =
      reference.kind === 'tag'
        ? await this.meta.deleteTag(repositoryId, reference.tag)
        : await this.meta.deleteManifest(repositoryId, reference.digest);
    if (!deleted) throw manifestUnknown(name, reference);
  }

  /**
   * Every tag of the repository, in lexical order, with the serialized
   * `{"name","tags"}` body: from the cache when the repository's tags have
   * not changed since it was filled, else read and kept.
   */
  async tagList(name: RepositoryName): Promise<TagList> {
    const repositoryId = await requireRepository(this.meta, name);
    const version = await this.tagsVersion(name, repositoryId);
    return this.tagLists.load(repositoryId, version, async () => tagListFromJson(name, version, await this.meta.tagNamesJson(repositoryId)));
  }

  /**
   * One page of tags in lexical order; `more` says whether a next page
   * exists. Sliced from the cached list when it is current and parsed;
   * otherwise one indexed range query (a page does not load the whole list).
   */
  async tags(name: RepositoryName, limit: number | undefined, last?: string): Promise<{ tags: string[]; more: boolean }> {
    const repositoryId = await requireRepository(this.meta, name);
    // A current list is sliced once its array is parsed; the first page
    // after it was built does not wait for that (~15 ms at 100,000 tags).
    const cached = this.tagLists.get(repositoryId, await this.tagsVersion(name, repositoryId))?.tagsIfParsed();
    if (cached !== undefined) {
      const start = last === undefined ? 0 : indexAfter(cached, last);
      const end = limit === undefined ? cached.length : Math.min(start + limit, cached.length);
      return { tags: cached.slice(start, end), more: end < cached.length };
    }
    const rows = await this.meta.listTags(repositoryId, limit === undefined ? undefined : limit + 1, last);
    const more = limit !== undefined && rows.length > limit;
    return { tags: more ? rows.slice(0, limit) : rows, more };
  }

  private async tagsVersion(name: RepositoryName, repositoryId: number): Promise<number> {
    const version = await this.meta.tagsVersion(repositoryId);
    if (version === undefined) throw new RegistryError('NAME_UNKNOWN', `repository ${name} is not known to this registry`, { name });
    return version;
  }

  async referrers(name: RepositoryName, subject: Digest, artifactType?: string): Promise<ReferrersIndex> {
    const repositoryId = await this.meta.findRepository(name);
    const rows = repositoryId === undefined ? [] : await this.meta.referrers(repositoryId, subject, artifactType);
    return {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: rows.map((r) => {
        const d: Descriptor = { mediaType: r.media_type, digest: r.digest as Digest, size: Number(r.size) };
        if (r.artifact_type) d.artifactType = r.artifact_type;
        if (r.annotations) d.annotations = JSON.parse(r.annotations) as Record<string, string>;
        return d;
      }),
    };
  }
}

function toStored(row: ManifestRow): StoredManifest {
  return { digest: row.digest as Digest, mediaType: row.media_type, size: Number(row.size), content: row.content };
}

function manifestUnknown(name: RepositoryName, reference: ManifestReference): RegistryError {
  const what = reference.kind === 'tag' ? `tag ${reference.tag}` : `manifest ${reference.digest}`;
  return new RegistryError('MANIFEST_UNKNOWN', `${what} is not known in repository ${name}`, reference.kind === 'tag' ? { tag: reference.tag } : { digest: reference.digest });
}

export function manifestTooLarge(size: number, max: number): RegistryError {
  return new RegistryError('MANIFEST_INVALID', `manifest is ${size} bytes; this registry accepts manifests up to ${max} bytes`, { size, limit: max }, 413);
}
