// runs/<experiment>/<stage> → the stage's latest output folder in the cache, so a person can open
// results without knowing digests. Links are replaced atomically (symlink to a temp name, rename).
import { readlinkSync } from 'node:fs';
import { mkdir, rename, symlink } from 'node:fs/promises';
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
  if (readLink(at) === wanted) return;
  await mkdir(dir, { recursive: true });
  const tmp = `${at}.tmp-${process.pid}`;
  await symlink(wanted, tmp);
  await rename(tmp, at);
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
