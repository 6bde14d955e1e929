// The two range headers a registry reads: `Content-Range: <start>-<end>` on
// a chunked upload PATCH (the OCI spec's non-standard, inclusive form), and
// `Range: bytes=...` on a blob GET (RFC 9110, a single range).

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export class RangeFormatError extends Error {}

const CONTENT_RANGE = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/;

/** Parses a chunk's `Content-Range` (`0-1023`, also `bytes 0-1023/*`). */
export function parseContentRange(value: string): ByteRange {
  const m = CONTENT_RANGE.exec(value.trim());
  if (!m) throw new RangeFormatError(`invalid Content-Range "${value.slice(0, 60)}": expected <start>-<end>`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    throw new RangeFormatError(`invalid Content-Range "${value.slice(0, 60)}": end before start`);
  }
  return { start, end };
}

export type RangeRequest =
  | { kind: 'full' }
  | { kind: 'partial'; range: ByteRange }
  | { kind: 'unsatisfiable' };

/**
 * Resolves a `Range` request header against a blob of `size` bytes.
 * Syntax we do not serve (several ranges, other units) falls back to the
 * whole body, as RFC 9110 allows a server to ignore Range.
 */
export function resolveRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'full' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return { kind: 'full' }; // invalid syntax: ignore
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start, end } };
}
