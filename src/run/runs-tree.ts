// runs/<experiment>/<stage> → the stage's latest output folder in the cache, so a person can open
// results without knowing digests. Links are replaced atomically (symlink to a temp name, rename).
import { mkdirSync } from 'node:fs';
import { rename, symlink } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { readLinkOrUndefined } from '../util/file-ops.ts';

export async function linkRunOutput(
  runsDir: string,
  experiment: string,
  name: string,
  target: string,
): Promise<void> {
  const dir = join(runsDir, experiment);
  // Stage names hold no separator (checked at load), so the link's path needs no join.
  const at = `${dir}/${name}`;
  const wanted = relativeTarget(dir, target);
  const current = readLinkOrUndefined(at);
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

/**
 * `relative(dir, target)`, with the part for target's folder worked out once: a run links every
 * stage's tree (all under trees/) and log (all under logs/), and relative() resolves both paths
 * each time (a tenth of what recording a 5,000-stage no-op allocated).
 */
export function relativeTarget(dir: string, target: string): string {
  const cut = target.lastIndexOf('/');
  if (!isAbsolute(dir) || !isAbsolute(target) || cut <= 0 || cut === target.length - 1)
    return relative(dir, target);
  const parent = target.slice(0, cut);
  const name = target.slice(cut + 1);
  if (name === '.' || name === '..') return relative(dir, target);
  const key = `${dir}\0${parent}`;
  let up = relativeParents.get(key);
  if (up === undefined) {
    up = relative(dir, parent);
    relativeParents.set(key, up);
  }
  // A parent above dir (only '..' segments) could lead back into dir through name: no shortcut.
  if (up === '..' || up.endsWith('/..')) return relative(dir, target);
  return up === '' ? name : `${up}/${name}`;
}

const relativeParents = new Map<string, string>();
