// Where an image is, in the `transport:details` syntax of skopeo, podman
// and buildah (containers-transports(5)):
//   docker://HOST[:PORT]/REPO[:TAG|@DIGEST]   an image in a registry
//   docker-archive:PATH[:REFERENCE|:@INDEX]   a `docker save` tarball
//   oci-archive:PATH[:REFERENCE]              an OCI layout in a tarball
//   oci:DIR[:REFERENCE]                       an OCI layout directory
// As in containers/image, the path ends at the first colon after the
// transport name. A value without a transport prefix is not parsed here:
// each command decides what a bare argument means (a file, a loaded
// image, a registry reference). Pure: no I/O.
import { ImageReferenceError, parseRemoteRef, type RemoteRef } from './image-reference.js';
import { isTag } from './reference.js';

export type ArchiveTransport = 'docker-archive' | 'oci-archive' | 'oci';

export type ImageLocation =
  | { transport: 'docker'; ref: RemoteRef }
  | {
      transport: ArchiveTransport;
      path: string;
      /** docker-archive: a name (`name:tag`) in the archive; oci / oci-archive: the `org.opencontainers.image.ref.name` (a tag, or a whole name). */
      reference?: string;
      /** docker-archive only: `@N`, the N-th image of manifest.json (from 0), for untagged images. */
      index?: number;
    };

export const ARCHIVE_TRANSPORTS: readonly ArchiveTransport[] = ['docker-archive', 'oci-archive', 'oci'];

/** The forms, for help texts. */
export const IMAGE_LOCATION_SYNTAX = 'docker://HOST/REPO[:TAG], docker-archive:FILE[:NAME:TAG], oci-archive:FILE[:REF], oci:DIR[:TAG]';

/** The transport of `value`, or undefined when it has no transport prefix. */
export function transportOf(value: string): ImageLocation['transport'] | undefined {
  if (value.startsWith('docker://')) return 'docker';
  return ARCHIVE_TRANSPORTS.find((t) => value.startsWith(`${t}:`));
}

/** Parses `transport:details`; undefined when `value` has no transport prefix. */
export function parseImageLocation(value: string): ImageLocation | undefined {
  const transport = transportOf(value);
  if (transport === undefined) return undefined;
  if (transport === 'docker') {
    const ref = parseRemoteRef(value);
    if (!ref) throw new ImageReferenceError(`"${value}" names no registry`, 'write docker://HOST[:PORT]/REPOSITORY[:TAG], e.g. docker://registry.example/system/oracle_db:19c');
    return { transport, ref };
  }
  const details = value.slice(transport.length + 1);
  const colon = details.indexOf(':');
  const path = colon < 0 ? details : details.slice(0, colon);
  const reference = colon < 0 ? undefined : details.slice(colon + 1);
  if (path === '') throw new ImageReferenceError(`"${value}" has no ${transport === 'oci' ? 'directory' : 'file'}`, `write ${transport}:${transport === 'oci' ? 'DIR' : 'FILE'}[:REFERENCE]`);
  if (reference === undefined) return { transport, path };
  if (reference === '') throw new ImageReferenceError(`"${value}" ends with a colon but names no image`, `leave the colon out, or name one: ${transport}:${path}:NAME`);
  if (transport === 'docker-archive') {
    if (reference.startsWith('@')) {
      const n = Number(reference.slice(1));
      if (!/^\d+$/.test(reference.slice(1)) || !Number.isSafeInteger(n)) throw new ImageReferenceError(`"${value}": "${reference}" is not an image index`, 'write @N, N counting the images of the archive from 0');
      return { transport, path, index: n };
    }
    // containers/image: a docker-archive reference is a name with a tag, never a digest.
    if (reference.includes('@')) throw new ImageReferenceError(`"${value}": a docker-archive reference may not carry a digest`, 'name the image by NAME:TAG, or by @N (its place in the archive)');
  } else if (!reference.includes('/') && !reference.includes(':') && !isTag(reference)) {
    throw new ImageReferenceError(`"${value}": "${reference}" is not a valid reference`, 'use a tag (A-Z a-z 0-9 _ . -) or a whole name NAME:TAG');
  }
  return { transport, path, reference };
}

/** Writes a location back in transport syntax (for messages and results). */
export function formatImageLocation(loc: ImageLocation): string {
  if (loc.transport === 'docker') {
    const { registry, repository, tag, digest } = loc.ref;
    return `docker://${registry}/${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  }
  const suffix = loc.index !== undefined ? `:@${loc.index}` : loc.reference !== undefined ? `:${loc.reference}` : '';
  return `${loc.transport}:${loc.path}${suffix}`;
}
