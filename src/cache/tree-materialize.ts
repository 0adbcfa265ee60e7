// A tree laid out as files for reading: trees/<digest>/ holds hard links into objects/ (copies
// where the file system refuses a link), built once in tmp/ and renamed into place, and checked on
// every use so that a tree is rebuilt after one of its objects was replaced.
import { copyFileSync, existsSync, linkSync, mkdirSync, renameSync, statSync, utimesSync } from 'node:fs';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { EXIT_STAGE_FAILED, PipeError } from '../errors.ts';
import { readLinkOrUndefined } from '../util/file-ops.ts';
import { yieldToEventLoop } from '../util/yield.ts';
import { hashFile } from './hash.ts';
import type { CacheStore } from './store.ts';
import { linksVerifiedObject, VERIFY_ON_READ_MAX } from './tree-check.ts';
import { linkProblem, type TreeLink } from './tree-links.ts';
import type { TreeManifest } from './tree-manifest.ts';

/**
 * The folder holding a tree's files (hard links into objects/), built once and shared. Checked on
 * every call: each file must be the object's own inode (or, where hard links failed, a copy with
 * the object's size and mtime), so a tree is rebuilt after a corrupt object was replaced.
 */
export async function materialize(store: CacheStore, digest: string): Promise<string> {
  const dir = store.layout.tree(digest);
  if (store.intactFolders.has(digest) && existsSync(dir)) return dir;
  const manifest = store.readManifest(digest);
  if (existsSync(dir)) {
    if (await treeLooksIntact(store, dir, manifest)) return dir;
    await rm(dir, { recursive: true, force: true });
  }
  const staging = await store.makeTmpDir('tree');
  await placeFiles(store, staging, manifest, digest);
  await placeLinks(staging, manifest.links ?? [], digest);
  await store.ensureDir(dirname(dir));
  try {
    renameSync(staging, dir);
  } catch (error) {
    // Another process materialized the same tree first: theirs is identical, use it.
    if (!['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    await rm(staging, { recursive: true, force: true });
  }
  return dir;
}

/**
 * Links each file of a tree into `staging`, creating each folder once. Where a hard link fails the
 * file is a copy carrying the object's mtime (how treeLooksIntact recognizes it). An object at the
 * file system's limit of hard links (ext4: 65,000; a tree of many empty files reaches it) is
 * copied from then on without trying to link it again.
 */
async function placeFiles(
  store: CacheStore,
  staging: string,
  manifest: TreeManifest,
  tree: string,
): Promise<void> {
  const made = new Set<string>();
  const ensure = (dir: string) => {
    if (made.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    made.add(dir);
  };
  for (const d of manifest.dirs) ensure(join(staging, d));
  const atLinkLimit = new Set<string>();
  let placed = 0;
  for (const file of manifest.files) {
    if (++placed % YIELD_EVERY === 0) await yieldToEventLoop();
    const dest = join(staging, file.path);
    ensure(dirname(dest));
    const source = store.layout.object(file.digest);
    if (!atLinkLimit.has(file.digest)) {
      try {
        linkSync(source, dest);
        continue;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EMLINK') atLinkLimit.add(file.digest);
      }
    }
    try {
      copyFileSync(source, dest);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || existsSync(source)) throw error;
      await rm(staging, { recursive: true, force: true });
      throw new PipeError(`cached object ${source} ("${file.path}" of tree ${tree}) is missing`, {
        code: 'E_CACHE_DAMAGED',
        hint: 'it was quarantined or removed during this run; run again to recompute it',
        exitCode: EXIT_STAGE_FAILED,
      });
    }
    // NOTE: times in seconds as numbers, not Dates: a Date keeps whole milliseconds, so the copy's
    // mtime never matched the object's (nanoseconds) and every run rebuilt the tree.
    const { atimeMs, mtimeMs } = statSync(source);
    utimesSync(dest, atimeMs / 1000, mtimeMs / 1000);
  }
}

async function treeLooksIntact(store: CacheStore, dir: string, manifest: TreeManifest): Promise<boolean> {
  for (const link of manifest.links ?? [])
    if (readLinkOrUndefined(join(dir, link.path)) !== link.target) return false;
  for (const file of manifest.files) {
    const objectPath = store.layout.object(file.digest);
    const linked = statSync(join(dir, file.path), { throwIfNoEntry: false });
    if (linked && linksVerifiedObject(store, linked, objectPath, file)) continue;
    if (linked?.size !== file.size) return false;
    const object = statSync(objectPath, { throwIfNoEntry: false });
    // No object left: the tree holds the only copy; keep it if it is still right (serve reports
    // the missing object). An object quarantined after a command wrote through it in place left
    // its damaged inode in every tree that links it: that copy must not be shown in runs/.
    if (!object) {
      if (
        file.size <= VERIFY_ON_READ_MAX &&
        (await hashFile(join(dir, file.path), file.size)) !== file.digest
      )
        return false;
      continue;
    }
    if (linked.ino === object.ino && linked.dev === object.dev) continue;
    if (!sameTime(linked.mtimeMs, object.mtimeMs)) return false;
  }
  return true;
}

/**
 * Creates a tree's links, then checks each where it now stands: a manifest from a shared cache is
 * data, and a link leading out of the tree (to /etc, say) would let a stage write there.
 */
async function placeLinks(staging: string, links: readonly TreeLink[], tree: string): Promise<void> {
  for (const link of links) {
    const path = link.path;
    if (
      typeof path !== 'string' ||
      posix.normalize(path) !== path ||
      path.startsWith('..') ||
      posix.isAbsolute(path)
    )
      throw new PipeError(`cached tree ${tree} has a link at an invalid path ${JSON.stringify(path)}`, {
        code: 'E_CACHE_CORRUPT',
        hint: 'the cache was changed by hand or by another tool; run gpt2o-pipe verify --repair',
        exitCode: EXIT_STAGE_FAILED,
      });
    const dest = join(staging, path);
    await mkdir(dirname(dest), { recursive: true });
    await symlink(link.target, dest);
  }
  for (const link of links) {
    const problem = linkProblem(staging, '', link.path, link.target);
    if (problem) {
      await rm(staging, { recursive: true, force: true });
      throw new PipeError(`cached tree ${tree} has a link "${link.path}" that ${problem}`, {
        code: 'E_CACHE_CORRUPT',
        hint: 'the cache was changed by hand or by another tool; run gpt2o-pipe verify --repair',
        exitCode: EXIT_STAGE_FAILED,
      });
    }
  }
}

/** How many files a tree loop handles between two yields to the event loop. */
const YIELD_EVERY = 512;

/**
 * Two mtimes (ms) are the same time: a copy's mtime is set from the object's through seconds held
 * in a double, which keeps about a tenth of a microsecond, so it comes back a few hundred
 * nanoseconds off. A write to the copy moves its mtime by far more.
 */
function sameTime(a: number, b: number): boolean {
  return Math.abs(a - b) < 0.001;
}
