// What an S3 upload session keeps in the bucket between requests, so that
// any node can take the next chunk: one small JSON object per session,
// rewritten after every chunk that succeeded (a chunk that fails leaves it
// as it was, which is the rollback).

export interface StagedUpload {
  /** Bytes accepted so far: the parts plus the tail. */
  offset: number;
  /** The S3 multipart upload holding the full parts, once the first part was needed. */
  multipartId?: string;
  /** ETags of parts 1..n, each exactly partSize(n) bytes. */
  parts: string[];
  /** The bytes after the last full part, as an object of their own (rewritten under a new key each time). */
  tail?: { key: string; size: number };
  /** hash-wasm's saved SHA-256 state over all `offset` bytes, base64. */
  sha256State?: string;
  /** Set once commit has completed the multipart upload into the staging data object. */
  assembled?: boolean;
  /**
   * The state before the last chunk, kept so that the chunk can be undone:
   * a node that dies after saving this state but before the database
   * recorded the new offset leaves the session one chunk ahead of its row,
   * and the client resumes from the row's offset.
   */
  previous?: PreviousChunkState;
}

export interface PreviousChunkState {
  offset: number;
  /** How many of `parts` it had. */
  partCount: number;
  tail?: { key: string; size: number };
  sha256State?: string;
}

/** The state as it was before its last chunk. */
export function undoLastChunk(state: StagedUpload): StagedUpload {
  const before = state.previous!;
  return { offset: before.offset, multipartId: state.multipartId, parts: state.parts.slice(0, before.partCount), tail: before.tail, sha256State: before.sha256State };
}

export const EMPTY_UPLOAD: StagedUpload = { offset: 0, parts: [] };

export function encodeStagedUpload(state: StagedUpload): string {
  return JSON.stringify({ v: 1, ...state });
}

export function decodeStagedUpload(text: string): StagedUpload {
  const raw = JSON.parse(text) as Partial<StagedUpload> & { v?: number };
  if (raw.v !== 1 || !Number.isSafeInteger(raw.offset) || !Array.isArray(raw.parts)) throw new Error('staged upload state is not in a known format');
  return { offset: raw.offset!, multipartId: raw.multipartId, parts: raw.parts, tail: raw.tail, sha256State: raw.sha256State, assembled: raw.assembled, previous: raw.previous };
}
