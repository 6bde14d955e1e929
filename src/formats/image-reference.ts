// Image names as users type them: `host[:port]/repo[:tag][@digest]` for an
// image in a registry (docker's rule for telling the host from the first
// path component), and the local names `docker save` and `hatoba image
// load` give (`alpine:3`, `system/oracle_db:19c`). Pure: no I/O.
import { isDigest } from './digest.js';
import { MAX_NAME_LENGTH, isTag } from './reference.js';

/** An image in a registry. */
export interface RemoteRef {
  /** `host[:port]` */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** A name that cannot be an image reference; `hint` says how to write one. */
export class ImageReferenceError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ImageReferenceError';
  }
}

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/** Docker's rule: the first component is a registry when it has a dot or a colon, or is localhost. */
export function hasRegistry(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

/** `[docker://]host[:port]/repo[:tag][@digest]`; undefined when there is no registry host in it. */
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
    if (!isDigest(digest)) throw new ImageReferenceError(`"${value}": "${digest}" is not a digest (sha256:<64 hex>)`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) throw new ImageReferenceError(`"${value}": "${tag}" is not a valid tag`, 'a tag is up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -');
  }
  if (rest.length > MAX_NAME_LENGTH || !REPOSITORY.test(rest)) {
    throw new ImageReferenceError(`"${value}": "${rest}" is not a valid repository name`, 'use lower-case letters, digits, . _ - and / between components');
  }
  return { registry, repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** Like parseRemoteRef, but a registry host is required; `what` names the argument in the message. */
export function requireRemoteRef(value: string, what: string): RemoteRef {
  const ref = parseRemoteRef(value);
  if (!ref) throw new ImageReferenceError(`${what} "${value}" names no registry`, 'write it as HOST[:PORT]/REPOSITORY[:TAG], e.g. registry.example/system/oracle_db:19c');
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

/** A name `hatoba image tag` accepts: a registry reference, or `path:tag` of the local store. */
export function isLocalName(name: string): boolean {
  const { path, tag } = splitTag(name);
  return tag !== undefined && isTag(tag) && REPOSITORY.test(path);
}

/** `docker.io/library/x:1` -> `x:1`; `quay.io/a/b:1` -> `a/b:1`; `a/b:1` -> `a/b:1` (the path without a registry). */
export function pathOfName(name: string): string {
  const slash = name.indexOf('/');
  let path = slash >= 0 && hasRegistry(name.slice(0, slash)) ? name.slice(slash + 1) : name;
  if (path.startsWith('library/') && (name.startsWith('docker.io/') || name.startsWith('index.docker.io/') || slash < 0)) path = path.slice('library/'.length);
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
