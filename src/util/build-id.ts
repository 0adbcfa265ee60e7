// Which build of gpt2o-pipe is running: the digest scripts/build.mjs stamps on the bundle's first
// line ("// gpt2o-pipe build <digest>"). Anything remembered across runs that the code's behaviour
// decides (the no-op journal) is valid only for the build that wrote it. Run from source (tsx, the
// in-process tests), there is no bundle and no stamp: such memos are then not used at all.
import { closeSync, openSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const STAMP = /^\/\/ gpt2o-pipe build ([0-9a-f]{32})\n/;

let known: string | null | undefined;

/** The running bundle's digest, or undefined when this code is not running from a stamped bundle. */
export function buildId(): string | undefined {
  if (known === undefined) known = readStamp(fileURLToPath(import.meta.url)) ?? null;
  return known ?? undefined;
}

/** The digest on the first line of `file`, if it is a stamped bundle (only its first bytes are read). */
export function readStamp(file: string): string | undefined {
  if (!file.endsWith('.cjs')) return undefined;
  const head = Buffer.alloc(64);
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const bytes = readSync(fd, head, 0, head.length, 0);
    return STAMP.exec(head.toString('latin1', 0, bytes))?.[1];
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
