// Copies the published blobs of a file system store into another data
// directory. Published blobs never change (they are content-addressed and
// only ever renamed into place whole), so a hard link is a copy that costs
// no space; across file systems, or where links are refused, the bytes
// are copied and synced.
import { constants } from 'node:fs';
import { copyFile, link, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from '../../runtime/fsync-path.js';

export interface TreeCopyResult {
  files: number;
  bytes: number;
  linked: number;
  copied: number;
}

/** Errors after which a hard link will not work for this pair of directories. */
const NO_LINK = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP']);

export async function linkOrCopyTree(source: string, dest: string, onFile?: (path: string, bytes: number) => void): Promise<TreeCopyResult> {
  const result: TreeCopyResult = { files: 0, bytes: 0, linked: 0, copied: 0 };
  let linking = true;
  async function walk(from: string, to: string): Promise<void> {
    await mkdir(to, { recursive: true, mode: 0o700 });
    for (const entry of await readdir(from, { withFileTypes: true })) {
      const src = join(from, entry.name);
      const dst = join(to, entry.name);
      if (entry.isDirectory()) {
        await walk(src, dst);
        continue;
      }
      if (!entry.isFile()) continue;
      let linked = false;
      if (linking) {
        try {
          await link(src, dst);
          linked = true;
        } catch (err) {
          if (!NO_LINK.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
          linking = false;
        }
      }
      if (!linked) {
        await copyFile(src, dst, constants.COPYFILE_FICLONE);
        await fsyncPath(dst);
      }
      const { size } = await stat(dst);
      result.files++;
      result.bytes += size;
      if (linked) result.linked++;
      else result.copied++;
      onFile?.(dst, size);
    }
    await fsyncPath(to);
  }
  await walk(source, dest);
  return result;
}
