// Writes a small new file (a temp file about to be renamed into place, a lock's owner.json) in one
// round trip through libuv's thread pool instead of three (open, write, close). Making the file is
// the part that can be slow (a new inode; on a busy ext4 without a journal it scans the inodes
// freed in the last minutes), so it stays off the calling thread; writing a few hundred bytes into
// the page cache and closing a local file are quick, and are done in place.
import { closeSync, open, unlinkSync, writeSync } from 'node:fs';

/** Creates `path` (replacing a file there) with `data`; a failed write (a full disk) removes it. */
export async function writeNewFile(path: string, data: string | Uint8Array, mode = 0o666): Promise<void> {
  const fd = await new Promise<number>((resolve, reject) =>
    open(path, 'w', mode, (error, opened) => (error ? reject(error) : resolve(opened))),
  );
  let isOpen = true;
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
    // Closing can report a failed write too (NFS); the descriptor is released either way.
    isOpen = false;
    closeSync(fd);
  } catch (error) {
    // NOTE: never a second close: the number may already belong to a file another thread opened.
    if (isOpen) closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
    throw error;
  }
}
