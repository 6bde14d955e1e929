// Parsing and validating the manifests a registry stores: OCI image
// manifest and index, Docker schema 2 manifest and manifest list, and OCI
// artifacts (artifactType, empty config, subject). The bytes are never
// re-serialised: the digest is of exactly what the client sent.
import { isDigest, type Digest } from './digest.js';
import {
  DOCKER_MANIFEST_SCHEMA1,
  DOCKER_MANIFEST_SCHEMA1_SIGNED,
  IMAGE_MANIFEST_TYPES,
  INDEX_MANIFEST_TYPES,
  NON_DISTRIBUTABLE_LAYERS,
  OCI_INDEX,
  OCI_MANIFEST,
  bareMediaType,
  isMediaType,
} from './media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  /** The artifact type the referrers API reports (see artifactTypeForReferrers). */
  artifactType?: string;
  config?: Descriptor;
  /** Layers and config: blobs that must exist in the repository. */
  blobs: Descriptor[];
  /** Child manifests of an index: must exist in the repository. */
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export class ManifestFormatError extends Error {}

type Json = Record<string, unknown>;

export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw new ManifestFormatError(`manifest is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ManifestFormatError('manifest must be a JSON object');
  }
  const body = doc as Json;
  const mediaType = resolveMediaType(body, bareMediaType(contentType));
  if (body.schemaVersion !== 2) throw new ManifestFormatError('schemaVersion must be 2');

  const subject = body.subject === undefined ? undefined : descriptor(body.subject, 'subject');
  const annotations = optionalAnnotations(body.annotations, 'annotations');
  if (body.artifactType !== undefined && !isMediaType(body.artifactType)) {
    throw new ManifestFormatError('artifactType must be a media type');
  }
  const declaredArtifactType = body.artifactType as string | undefined;

  if (INDEX_MANIFEST_TYPES.has(mediaType)) {
    if (!Array.isArray(body.manifests)) throw new ManifestFormatError('an index needs a "manifests" array');
    const manifests = body.manifests.map((d, i) => descriptor(d, `manifests[${i}]`));
    return { mediaType, kind: 'index', artifactType: declaredArtifactType, blobs: [], manifests, subject, annotations };
  }

  const config = descriptor(body.config, 'config');
  if (body.layers !== undefined && !Array.isArray(body.layers)) throw new ManifestFormatError('"layers" must be an array');
  const layers = ((body.layers as unknown[] | undefined) ?? []).map((d, i) => descriptor(d, `layers[${i}]`));
  // Foreign / non-distributable layers live at their `urls`, not in the registry.
  const blobs = [config, ...layers.filter((l) => !(NON_DISTRIBUTABLE_LAYERS.has(l.mediaType) && l.urls?.length))];
  return {
    mediaType,
    kind: 'image',
    artifactType: declaredArtifactType ?? config.mediaType,
    config,
    blobs,
    manifests: [],
    subject,
    annotations,
  };
}

function resolveMediaType(body: Json, contentType: string | undefined): string {
  const declared = body.mediaType;
  if (declared !== undefined && typeof declared !== 'string') throw new ManifestFormatError('mediaType must be a string');
  if (declared === DOCKER_MANIFEST_SCHEMA1 || declared === DOCKER_MANIFEST_SCHEMA1_SIGNED || contentType === DOCKER_MANIFEST_SCHEMA1_SIGNED || contentType === DOCKER_MANIFEST_SCHEMA1) {
    throw new ManifestFormatError('Docker schema 1 manifests are not supported; push with a current client (schema 2 or OCI)');
  }
  const known = (t: string | undefined) => t !== undefined && (IMAGE_MANIFEST_TYPES.has(t) || INDEX_MANIFEST_TYPES.has(t));
  if (declared !== undefined) {
    if (!known(declared)) throw new ManifestFormatError(`unsupported manifest mediaType "${declared.slice(0, 100)}"`);
    if (known(contentType) && contentType !== declared) {
      throw new ManifestFormatError(`Content-Type ${contentType} does not match the manifest's mediaType ${declared}`);
    }
    return declared;
  }
  if (known(contentType)) return contentType!;
  // OCI makes mediaType optional in the body; fall back to the shape.
  if (Array.isArray(body.manifests)) return OCI_INDEX;
  if (body.config !== undefined) return OCI_MANIFEST;
  throw new ManifestFormatError('cannot tell the manifest type: set mediaType or a manifest Content-Type');
}

function descriptor(value: unknown, where: string): Descriptor {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ManifestFormatError(`${where} must be a descriptor object`);
  }
  const d = value as Json;
  if (!isMediaType(d.mediaType)) throw new ManifestFormatError(`${where}.mediaType must be a media type`);
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) throw new ManifestFormatError(`${where}.digest is not a valid digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new ManifestFormatError(`${where}.size must be a non-negative integer`);
  }
  if (d.artifactType !== undefined && !isMediaType(d.artifactType)) throw new ManifestFormatError(`${where}.artifactType must be a media type`);
  if (d.urls !== undefined && !(Array.isArray(d.urls) && d.urls.every((u) => typeof u === 'string'))) {
    throw new ManifestFormatError(`${where}.urls must be an array of strings`);
  }
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest as Digest, size: d.size };
  if (d.artifactType !== undefined) out.artifactType = d.artifactType as string;
  const annotations = optionalAnnotations(d.annotations, `${where}.annotations`);
  if (annotations) out.annotations = annotations;
  if (d.urls !== undefined) out.urls = d.urls as string[];
  return out;
}

function optionalAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new ManifestFormatError(`${where} must map strings to strings`);
  }
  return value as Record<string, string>;
}
