// fsync by path, for a file just copied or a directory whose entries just
// changed (a rename or a new file is durable only once its directory is
// synced). A read-only handle is enough for fsync on Linux, for both.
import { open } from 'node:fs/promises';

export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
