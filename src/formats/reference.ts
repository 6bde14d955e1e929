// Repository names and tags, with the grammar of the OCI distribution spec:
//   name: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
//   tag:  [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
// A name that passes can never be `..`, absolute, or upper case, so it is
// never a path on disk (blobs are stored by digest anyway).
import { isDigest, parseDigest, type Digest } from './digest.js';

export type RepositoryName = string & { readonly __brand: 'RepositoryName' };
export type Tag = string & { readonly __brand: 'Tag' };

/** A manifest reference from a URL: either a tag or a digest. */
export type ManifestReference = { kind: 'tag'; tag: Tag } | { kind: 'digest'; digest: Digest };

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_PATTERN = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** distribution's limit for the repository part of a reference. */
export const MAX_NAME_LENGTH = 255;

export class ReferenceFormatError extends Error {}

export function parseRepositoryName(value: string): RepositoryName {
  if (value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw new ReferenceFormatError(`invalid repository name: must be 1 to ${MAX_NAME_LENGTH} characters`);
  }
  if (!NAME_PATTERN.test(value)) {
    throw new ReferenceFormatError(
      `invalid repository name "${value.slice(0, 100)}": use lower-case letters, digits and separators (. _ __ -) in /-separated components`,
    );
  }
  return value as RepositoryName;
}

export function isTag(value: string): boolean {
  return TAG_PATTERN.test(value);
}

export function parseTag(value: string): Tag {
  if (!TAG_PATTERN.test(value)) {
    throw new ReferenceFormatError(`invalid tag "${value.slice(0, 140)}": up to 128 of [A-Za-z0-9_.-], not starting with . or -`);
  }
  return value as Tag;
}

export function parseManifestReference(value: string): ManifestReference {
  if (value.includes(':')) return { kind: 'digest', digest: parseDigest(value) };
  return { kind: 'tag', tag: parseTag(value) };
}

export function referenceString(ref: ManifestReference): string {
  return ref.kind === 'tag' ? ref.tag : ref.digest;
}

export { isDigest };
