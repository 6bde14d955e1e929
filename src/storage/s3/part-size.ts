// How big each part of a staged S3 multipart upload is. S3 allows at most
// 10,000 parts of 5 MiB to 5 GiB each (the last may be smaller), and the
// size of a chunked upload is unknown until its last byte: a fixed part
// size either wastes memory on small layers or runs out of parts on big
// ones (distribution#4572). So the size grows with the part number: 8 MiB
// for the first thousand parts, doubling every thousand after, which keeps
// a 1 GiB layer at 8 MiB parts, a 100 GiB one at 64 MiB and reaches S3's
// 5 TiB object limit before part 10,000.
//
// Parts are buffered in memory one at a time (an UploadPart needs its
// length up front, and a streamed PATCH has none), so the part size is
// also the memory one upload holds.

const MiB = 1024 * 1024;
export const MAX_PARTS = 10_000;
export const MIN_PART_BYTES = 5 * MiB;
export const MAX_PART_BYTES = 5 * 1024 * MiB;
const FIRST_PART_BYTES = 8 * MiB;
const PARTS_PER_STEP = 1000;

/** The size of part `partNumber` (1-based); every part but the last has exactly this size. */
export function partSize(partNumber: number): number {
  if (!Number.isSafeInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) throw new RangeError(`part number ${partNumber} is outside 1..${MAX_PARTS}`);
  return Math.min(MAX_PART_BYTES, FIRST_PART_BYTES * 2 ** Math.floor((partNumber - 1) / PARTS_PER_STEP));
}

/** How many parts an upload of `bytes` needs under partSize() (pure arithmetic, for sizing and tests). */
export function partsFor(bytes: number): number {
  let parts = 0;
  let covered = 0;
  while (covered < bytes) {
    parts++;
    if (parts > MAX_PARTS) return Infinity;
    covered += partSize(parts);
  }
  return Math.max(parts, 1);
}

/**
 * Ranges for copying an object of `bytes` with UploadPartCopy: a single
 * CopyObject is limited to 5 GiB. Ranges of `rangeBytes` (at least 5 MiB,
 * at most 5 GiB), grown when needed to stay within 10,000 parts.
 */
export function copyRanges(bytes: number, rangeBytes: number): { start: number; end: number }[] {
  const size = Math.min(MAX_PART_BYTES, Math.max(MIN_PART_BYTES, rangeBytes, Math.ceil(bytes / MAX_PARTS)));
  const ranges: { start: number; end: number }[] = [];
  for (let start = 0; start < bytes; start += size) ranges.push({ start, end: Math.min(bytes, start + size) - 1 });
  return ranges;
}
