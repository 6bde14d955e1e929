// Reading images from where users keep them into a content store: a
// tarball (docker save, skopeo docker-archive / oci-archive; plain or
// gzip), stdin, an OCI layout directory, or an object in S3. Blobs stream
// through the formats/ readers, verified, into the store; what the
// source holds comes back as items a user can name.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import type { Digest } from '../formats/digest.js';
import { ImageArchiveError, canonicalReference, readImageArchive, type ImageArchive } from '../formats/image-archive.js';
import { familiarName, normalizeLocalName, splitTag } from '../formats/image-reference.js';
import { parseImageLocation, type ArchiveTransport } from '../formats/image-transport.js';
import { readOciLayoutDirectory } from '../formats/oci-layout-dir.js';
import type { ContentStore } from './content-store.js';
import { ImageWorkflowError } from './image-errors.js';
import { defaultFiles, parseS3Url, resolveS3Settings, S3Source } from './s3.js';

/** Where to read from. */
export type SourceSpec =
  | { kind: 'stdin'; stream?: Readable }
  | { kind: 's3'; url: string }
  /** A file or directory; `transport` when the user said which (docker-archive:F, oci-archive:F, oci:DIR). */
  | { kind: 'path'; path: string; transport?: ArchiveTransport };

/** Which image of a source the user named (skopeo's `docker-archive:F:NAME:TAG`, `docker-archive:F:@N`, `oci:DIR:TAG`). */
export interface SourceSelection {
  reference?: string;
  index?: number;
}

export interface SourceOptions {
  s3Endpoint?: string;
  s3Region?: string;
  s3Profile?: string;
}

export interface SourceEvents {
  /** A blob is in the store (read, verified). */
  onStored?: (digest: Digest, size: number) => void;
  /** Something the source did oddly but readably (e.g. a name that is not valid). */
  onWarning?: (text: string) => void;
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

export const SOURCE_FORMS = 'a tarball (docker save, skopeo docker-archive: / oci-archive:), an OCI layout directory (oci:DIR), s3://BUCKET/KEY, or - for stdin';

/**
 * What a source argument means: `-` is stdin, `s3://` an object, a
 * transport prefix names the format (and maybe one image of it), anything
 * else is a path.
 */
export function parseSource(value: string): { spec: SourceSpec; selection: SourceSelection } {
  if (value === '-') return { spec: { kind: 'stdin' }, selection: {} };
  if (value.startsWith('s3://')) return { spec: { kind: 's3', url: value }, selection: {} };
  const loc = parseImageLocation(value);
  if (loc && loc.transport !== 'docker') {
    const selection: SourceSelection = { ...(loc.reference !== undefined ? { reference: loc.reference } : {}), ...(loc.index !== undefined ? { index: loc.index } : {}) };
    // `docker-archive:-` and `docker-archive:/dev/stdin` read stdin, as a pipe.
    if (loc.path === '-' && loc.transport !== 'oci') return { spec: { kind: 'stdin' }, selection };
    return { spec: { kind: 'path', path: loc.path, transport: loc.transport }, selection };
  }
  return { spec: { kind: 'path', path: value }, selection: {} };
}

/** Reads a source into the store. */
export async function loadSource(spec: SourceSpec, store: ContentStore, events: SourceEvents = {}, opts: SourceOptions = {}): Promise<LoadedSource> {
  const sink = store.sink((b) => events.onStored?.(b.digest, b.size));
  let archive: ImageArchive;
  let label: string;
  const asTar = async (input: Readable, name: string): Promise<ImageArchive> => {
    const seen = { bytes: 0, head: Buffer.alloc(0) };
    const counted = input.pipe(
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          if (seen.head.length < 2) seen.head = Buffer.concat([seen.head, chunk.subarray(0, 2)]);
          seen.bytes += chunk.length;
          done(null, chunk);
        },
      }),
    );
    input.once('error', (err) => counted.destroy(err));
    try {
      return await readImageArchive(counted, sink);
    } catch (err) {
      throw notATar(err, name, seen);
    }
  };
  if (spec.kind === 'stdin') {
    label = 'stdin';
    archive = await asTar(spec.stream ?? process.stdin, 'stdin');
  } else if (spec.kind === 's3') {
    label = spec.url;
    const location = parseS3Url(spec.url);
    if (!location.key) throw new ImageWorkflowError(`${spec.url} names a bucket, not an object`, `give the key of the tarball: s3://${location.bucket}/KEY (list them with: hatoba s3 ls s3://${location.bucket}/)`);
    const s3 = new S3Source(resolveS3Settings({ endpoint: opts.s3Endpoint, region: opts.s3Region, profile: opts.s3Profile }, process.env, defaultFiles()));
    try {
      const { body } = await s3.open(location);
      archive = await asTar(body, basename(location.key));
    } finally {
      s3.destroy();
    }
  } else {
    const path = spec.path;
    label = path;
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ImageWorkflowError(`no such file or directory: ${path}`, `give ${SOURCE_FORMS}`);
      throw err;
    }
    if (info.isDirectory()) {
      if (spec.transport === 'docker-archive' || spec.transport === 'oci-archive') throw new ImageWorkflowError(`${spec.transport}:${path} is a directory, not a tarball`, `an OCI layout directory is oci:${path}`);
      archive = await readOciLayoutDirectory((p) => createReadStream(join(path, ...p.split('/'))), sink);
    } else {
      if (spec.transport === 'oci') throw new ImageWorkflowError(`oci:${path} is a file, not a directory`, `a tarball of an OCI layout is oci-archive:${path}`);
      archive = await asTar(createReadStream(path), path);
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
  for (const w of archive.warnings) events.onWarning?.(w);
  return { label, archive, items };
}

/** A tar archive is at least one 512-byte header and the 1024-byte end marker. */
const MIN_TAR_BYTES = 1536;

/**
 * Input that is not a tar stream at all is called that, with the file's
 * name: what the reader found no tar header in, and a plain (not gzip)
 * input too short to be a tarball, which the reader can only call cut short.
 */
function notATar(err: unknown, name: string, seen: { bytes: number; head: Buffer }): unknown {
  const gzip = seen.head[0] === 0x1f && seen.head[1] === 0x8b;
  const tooShort = err instanceof ImageArchiveError && err.code === 'TRUNCATED' && !gzip && seen.bytes < MIN_TAR_BYTES;
  if (tooShort || (err instanceof ImageArchiveError && err.code === 'NOT_AN_ARCHIVE' && /not a tar archive|input is empty/.test(err.message))) {
    return new ImageArchiveError('NOT_AN_ARCHIVE', `${name} is not a tar archive (docker save / skopeo docker-archive / oci-archive)`, { cause: err });
  }
  return err;
}

function describe(items: LoadedItem[]): string {
  return items.map((i, n) => `@${n} ${i.names.length ? i.names.join(', ') : i.tags.length ? `tag ${i.tags.join(', ')}` : `${i.digest.slice(0, 19)} (no name)`}`).join('; ');
}

/** The item a selection names; with none, the source must hold exactly one. */
export function selectItem(items: LoadedItem[], selection: SourceSelection, label: string): LoadedItem {
  if (items.length === 0) throw new ImageWorkflowError(`${label} holds no image`);
  if (selection.index !== undefined) {
    const item = items[selection.index];
    if (!item) throw new ImageWorkflowError(`${label} has no image @${selection.index}`, `it holds ${items.length}: ${describe(items)}`);
    return item;
  }
  const wanted = selection.reference;
  if (wanted === undefined) {
    if (items.length === 1) return items[0]!;
    throw new ImageWorkflowError(`${label} holds ${items.length} images: ${describe(items)}`, 'name one: FILE:NAME:TAG (docker-archive), DIR:TAG (oci), or FILE:@N');
  }
  const canon = canonicalReference(normalizeLocalName(wanted));
  const found = items.filter((i) => i.tags.includes(wanted) || i.names.some((n) => n === wanted || canonicalReference(n) === canon));
  if (found.length === 1) return found[0]!;
  if (found.length > 1) throw new ImageWorkflowError(`"${wanted}" names several images of ${label}: ${describe(found)}`, 'pick one by its place: FILE:@N');
  throw new ImageWorkflowError(`${label} has no image named ${wanted}`, `it holds: ${describe(items)}`);
}

/** The tag an item carries by itself (its first name's, or its OCI ref name), if any. */
export function ownTag(item: LoadedItem): string | undefined {
  return item.names.map((n) => splitTag(n).tag).find(Boolean) ?? item.tags[0];
}
