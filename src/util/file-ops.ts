// File operations the cache, the memos and the runs/ links all need, with one owner each.
import { readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Replaces `target` whole: `data` goes to `tmp` first and is renamed over it, so a reader sees the
 * old file or the new one, never half of either. A failed write (a full disk) removes the temp
 * file and is thrown.
 */
export function replaceFileSync(
  target: string,
  data: string | Uint8Array,
  tmp = `${target}.${process.pid}.tmp`,
): void {
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, target);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/** Where the link at `path` points, or undefined when there is no link there. */
export function readLinkOrUndefined(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** A file's bytes, or undefined when it cannot be read (missing, a folder, no permission). */
export function readFileOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}
