// runs/<experiment>/<stage> → the stage's latest output folder in the cache, so a person can open
// results without knowing digests. Links are replaced atomically (symlink to a temp name, rename).
import { mkdirSync, readlinkSync } from 'node:fs';
import { rename, symlink } from 'node:fs/promises';
import { join, relative } from 'node:path';

export async function linkRunOutput(
  runsDir: string,
  experiment: string,
  name: string,
  target: string,
): Promise<void> {
  const dir = join(runsDir, experiment);
  const at = join(dir, name);
  const wanted = relative(dir, target);
  const current = readLink(at);
  if (current === wanted) return;
  // NOTE: synchronous (a folder that exists costs one quick call), as are the stage links' checks.
  mkdirSync(dir, { recursive: true });
  // Nothing there yet (a first run): the link goes in place at once; one made there meanwhile
  // (another run) is replaced below, as any older link is.
  if (current === undefined && (await symlink(wanted, at).then(() => true, tolerateExisting))) return;
  const tmp = `${at}.tmp-${process.pid}`;
  await symlink(wanted, tmp);
  await rename(tmp, at);
}

function tolerateExisting(error: NodeJS.ErrnoException): false {
  if (error.code === 'EEXIST') return false;
  throw error;
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
