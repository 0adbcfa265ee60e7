// Whether a cached tree may be served: its manifest object intact, and every file of it the
// verified object (one stat each, through the tree's folder where that file is the object's own
// inode), or, for a big tree, its folder unchanged since it was sealed (tree-seal.ts). What was
// verified is remembered: in the stat cache and the memo of validated files across runs, and in the
// store's seenIntact and intactFolders within this process.
import { type Stats, statSync } from 'node:fs';
import { readFileOrUndefined, readLinkOrUndefined } from '../util/file-ops.ts';
import { corruptReason, type Damage } from './damage.ts';
import { hashBytes, hashFile } from './hash.ts';
import { RACY_MS } from './stat-cache.ts';
import type { CacheStore, SignedStat } from './store.ts';
import type { TreeEntry, TreeManifest } from './tree-manifest.ts';
import { walkTreeFolder } from './tree-seal.ts';

/**
 * Objects up to this size are rehashed before a result that uses them is served, unless the stat
 * cache says the object was verified at its current (size, mtime, ctime, inode). Bigger ones are
 * checked by size only there (`verify` rehashes everything).
 */
export const VERIFY_ON_READ_MAX = 8 << 20;

/**
 * Manifests up to this size are kept in the memo of validated files. A bigger one would cost every
 * run that reads the memo as much as reading the manifest itself (parsing it), and its tree is
 * checked through its seal (tree-seal.ts), which needs no manifest.
 */
export const MANIFEST_MEMO_MAX = 256 << 10;

/**
 * The first problem that keeps a tree from being served (see serve), or undefined. A tree folder
 * sealed before (tree-seal.ts) and unchanged since is checked by one walk of it; otherwise every
 * file is checked, through the folder where its file is the object's own inode, and a folder
 * found whole (every file a verified object's inode, every link as the manifest says) is sealed.
 */
export async function checkTree(store: CacheStore, tree: string): Promise<Damage | undefined> {
  const manifestPath = store.layout.object(tree);
  const manifestStat = statSync(manifestPath, { throwIfNoEntry: false });
  if (!manifestStat?.isFile()) return { digest: tree, path: manifestPath, reason: 'is missing' };
  const treeDir = store.layout.tree(tree);
  const folderStat = statSync(treeDir, { throwIfNoEntry: false });
  const folder = folderStat?.isDirectory() ? folderStat : undefined;
  // NOTE: only a big tree is sealed: for a tree of a few files (a no-op of 1,000 stages checks
  // 1,000 of them) the walk costs more system calls than a stat of each file.
  const sealable = manifestStat.size > MANIFEST_MEMO_MAX;
  const sealed = sealable && folder ? sealIn(store.validated.get(treeDir, folder)) : undefined;
  if (sealed !== undefined && (await walkTreeFolder(treeDir, manifestStat))?.seal === sealed) {
    store.intactFolders.add(tree);
    return undefined;
  }
  const manifest = await checkedManifest(store, tree, manifestPath, manifestStat);
  if (!('files' in manifest)) return manifest;
  // A big tree: one walk of its folder, whose stats check the files and seal the folder if it is
  // whole. A small one: each file's stat through the folder, while they are verified objects.
  const inFolder = new Map<string, Stats>();
  const linksInFolder = new Map<string, string>();
  const walked =
    sealable && folder
      ? await walkTreeFolder(treeDir, manifestStat, (rel, stat, target) => {
          if (target === undefined) inFolder.set(rel, stat);
          else linksInFolder.set(rel, target);
        })
      : undefined;
  let whole = walked !== undefined;
  let viaFolder = folder !== undefined;
  const pending: { file: TreeEntry; path: string; stat: Stats }[] = [];
  for (const file of manifest.files) {
    const path = store.layout.object(file.digest);
    const linked = walked
      ? inFolder.get(file.path)
      : viaFolder
        ? // A validated manifest's paths are relative and normalised: concatenated, not joined.
          statSync(`${treeDir}/${file.path}`, { throwIfNoEntry: false })
        : undefined;
    if (linked && linksVerifiedObject(store, linked, path, file)) continue;
    viaFolder = false;
    const stat = statSync(path, { throwIfNoEntry: false });
    // The folder's file is still this object's inode, as it was when the walk saw it.
    if (!(linked && stat && sameStat(linked, stat))) whole = false;
    const base = { digest: file.digest, path, file: file.path };
    if (!stat?.isFile()) return { ...base, reason: 'is missing' };
    if (stat.size !== file.size) return { ...base, reason: `has ${stat.size} bytes, expected ${file.size}` };
    if (stat.size > VERIFY_ON_READ_MAX) {
      whole = false;
      continue;
    }
    const known = verifiedDigest(store, path, stat, file.digest);
    if (known === undefined) pending.push({ file, path, stat });
    else if (known !== file.digest) return { ...base, reason: corruptReason(known) };
  }
  const damage = await hashUnverified(store, pending);
  if (damage) return damage;
  const linkAt = (rel: string) =>
    walked ? linksInFolder.get(rel) : readLinkOrUndefined(`${treeDir}/${rel}`);
  const links = manifest.links ?? [];
  if ((walked ? whole : viaFolder) && links.every((link) => linkAt(link.path) === link.target)) {
    store.intactFolders.add(tree);
    // NOTE: as the stat cache, never a folder changed in the last moments: a write in the same
    // timestamp tick as the walk could keep every field the seal holds.
    if (walked && Date.now() - walked.newest > RACY_MS)
      store.validated.remember(treeDir, folder!, { seal: walked.seal });
  }
  return undefined;
}

/**
 * The manifest of `tree` when its object is intact (known to the stat cache at this stat, or
 * rehashed up to VERIFY_ON_READ_MAX) and valid; otherwise the damage.
 */
async function checkedManifest(
  store: CacheStore,
  tree: string,
  path: string,
  stat: Stats,
): Promise<TreeManifest | Damage> {
  const known = store.statCache.known(path, stat) === tree;
  if (!known && stat.size <= VERIFY_ON_READ_MAX) {
    const bytes = readFileOrUndefined(path);
    const actual = bytes ? await hashBytes(bytes) : undefined;
    if (actual !== tree) return { digest: tree, path, reason: corruptReason(actual) };
    store.statCache.remember(path, stat, tree);
  }
  try {
    return store.manifestAt(tree, path, stat, known);
  } catch (error) {
    return { digest: tree, path, reason: `is not a valid manifest (${(error as Error).message})` };
  }
}

/** Hashes the objects no stat vouched for; the first that does not hold its digest is the damage. */
async function hashUnverified(
  store: CacheStore,
  pending: readonly { file: TreeEntry; path: string; stat: Stats }[],
): Promise<Damage | undefined> {
  const hashed = new Set<string>();
  for (const { file, path, stat } of pending) {
    // Many files of a tree may share one object (empty files): hash it once.
    if (hashed.has(path)) continue;
    hashed.add(path);
    let actual: string | undefined;
    try {
      actual = await hashFile(path, stat.size);
    } catch {
      actual = undefined;
    }
    if (actual !== undefined) store.statCache.remember(path, stat, actual);
    if (actual === file.digest) store.seenIntact.set(file.digest, signed(stat));
    if (actual !== file.digest)
      return { digest: file.digest, path, file: file.path, reason: corruptReason(actual) };
  }
  return undefined;
}

/**
 * The digest this object was verified to hold at `stat` (by this process, or in the stat cache),
 * or undefined when it was not verified at that stat.
 */
function verifiedDigest(
  store: CacheStore,
  objectPath: string,
  stat: Stats,
  digest: string,
): string | undefined {
  const seen = store.seenIntact.get(digest);
  if (seen && seen.size === stat.size && seen.mtimeMs === stat.mtimeMs && seen.ino === stat.ino)
    return digest;
  return store.statCache.known(objectPath, stat);
}

/**
 * True when a tree's file, as `linked` (its lstat) shows it, is the inode of the object at
 * `objectPath`, as the stat cache recorded it when it verified the object's digest: one stat
 * checks both the object and the tree's file. NOTE: this rests on ctime, which the stat cache
 * records (seenIntact does not): linking, unlinking or renaming an inode moves its ctime, as a
 * write moves its mtime, so an object removed, quarantined or rewritten since it was verified no
 * longer matches, and the caller falls back to the object itself.
 */
export function linksVerifiedObject(
  store: CacheStore,
  linked: Stats,
  objectPath: string,
  file: TreeEntry,
): boolean {
  if (file.size > VERIFY_ON_READ_MAX || !linked.isFile() || linked.size !== file.size) return false;
  return store.statCache.known(objectPath, linked) === file.digest;
}

/** The same inode, unchanged: what the stat cache compares, and the device. */
function sameStat(a: Stats, b: Stats): boolean {
  return (
    a.ino === b.ino &&
    a.dev === b.dev &&
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs
  );
}

/** The seal a memo entry of a tree folder holds, if it is one. */
function sealIn(memo: unknown): string | undefined {
  const seal = (memo as { seal?: unknown } | undefined)?.seal;
  return typeof seal === 'string' ? seal : undefined;
}

/** What seenIntact keeps of an object's stat (not ctime: linking an object into a tree moves it). */
export function signed(stat: SignedStat): SignedStat {
  return { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino };
}
