// The content-addressed store: objects, run records and materialized trees. Every write goes to
// tmp/ first and is renamed into place, so a reader never sees a half-written entry.
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  constants,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  unlinkSync,
  utimesSync,
} from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { EXIT_STAGE_FAILED, PipeError } from '../errors.ts';
import { readLinkOrUndefined } from '../util/file-ops.ts';
import { writeNewFile } from '../util/write-new-file.ts';
import { cacheAccessError, initCacheFolder, inspectCacheFolder } from './cache-folder.ts';
import { hashBytes, hashFile } from './hash.ts';
import { CacheLayout, DIGEST } from './layout.ts';
import { OWNER_TAG } from './liveness.ts';
import type { RunRecord, ServedRecord } from './record.ts';
import { isServedRecord, readRecordFile } from './record-file.ts';
import { RACY_MS, StatCache } from './stat-cache.ts';
import { linkProblem, type TreeLink } from './tree-links.ts';
import { walkTreeFolder } from './tree-seal.ts';
import { manifestProblem, parseManifest } from './validate.ts';
import { ValidatedFiles } from './validated-files.ts';

/** What an object's signature in seenIntact takes of a stat. */
export type SignedStat = Pick<Stats, 'size' | 'mtimeMs' | 'ino'>;

/** A file of an output tree. */
export interface TreeEntry {
  path: string;
  digest: string;
  size: number;
  exec?: true;
}

/**
 * An output tree: the files a stage produced, by relative POSIX path, plus empty folders and the
 * symbolic links that stay inside it (absent when there are none, so such trees keep their digest).
 */
export interface TreeManifest {
  format: 1;
  files: TreeEntry[];
  dirs: string[];
  links?: TreeLink[];
}

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
const MANIFEST_MEMO_MAX = 256 << 10;

/** Why a cached result cannot be served: one of its objects is missing, damaged or corrupt. */
export interface Damage {
  digest: string;
  path: string;
  /** The file of the output tree it holds; absent for the tree manifest itself. */
  file?: string;
  /** Set when the run record itself is damaged (then `digest` is the key). */
  record?: true;
  reason: string;
}

export function describeDamage(damage: Damage): string {
  if (damage.record) return `cached run record ${damage.path} ${damage.reason}`;
  const what = damage.file === undefined ? 'the output tree manifest' : `"${damage.file}"`;
  return `cached object ${damage.path} (${what}) ${damage.reason}`;
}

export class CacheStore {
  readonly layout: CacheLayout;
  readonly statCache: StatCache;
  /** Records and manifests read before, by path and stat: a fully cached run reads neither again. */
  readonly validated: ValidatedFiles;
  private readonly madeDirs = new Set<string>();
  private readonly manifests = new Map<string, TreeManifest>();
  /**
   * Objects this process wrote or hashed, by digest → size, mtime and inode then. The stat cache
   * skips files changed in the last moments (racy), so without this every object a stage just
   * wrote would be rehashed when its consumer checks it. Not ctime: linking an object into a tree
   * moves it. NOTE: keyed by the digest a manifest entry holds anyway, and a stat record the
   * caller made (no path, no text per object): a stored tree of 100,000 files made 200,000
   * strings here, which the garbage collector copied again and again.
   */
  private readonly seenIntact = new Map<string, SignedStat>();
  /**
   * Trees whose folder checkTree found to hold the verified objects' own inodes and the manifest's
   * links (file by file, or by its seal): the same process materializes them without a second look
   * (a fully cached run checks each tree when planning and links it into runs/ at the end). A
   * quarantine in this process, or a tree folder removed meanwhile (input-guard.ts), drops or
   * bypasses this.
   */
  private readonly intactFolders = new Set<string>();

  private constructor(readonly root: string) {
    this.layout = new CacheLayout(root);
    this.statCache = new StatCache(this.layout.statCache);
    this.validated = ValidatedFiles.forCache(root);
  }

  /**
   * Opens a cache folder. Only a folder that is already a cache (its FORMAT marker names ours), or
   * an empty or missing one, is used: anything else (a project, a home folder, /) is refused before
   * anything is written to it, so gc and verify --repair never work in a folder that is not theirs.
   * With `create: false` (commands that only read) a missing folder is left missing.
   */
  static open(root: string, options: { create?: boolean } = {}): CacheStore {
    const store = new CacheStore(root);
    const state = inspectCacheFolder(root);
    if (state === 'cache') return store;
    if (state === 'missing' && options.create === false) return store;
    initCacheFolder(root, store.layout);
    return store;
  }

  /** Throws a PipeError naming the cache when this process cannot write to it (a read-only mount). */
  assertWritable(): void {
    try {
      accessSync(this.root, constants.W_OK);
      if (existsSync(this.layout.tmp)) accessSync(this.layout.tmp, constants.W_OK);
    } catch (error) {
      throw cacheAccessError(this.root, error);
    }
  }

  /** A fresh private folder under tmp/ for staging; named "<pid>@<host>~…" so gc can tell leftovers of dead runs. */
  async makeTmpDir(prefix: string): Promise<string> {
    await this.ensureDir(this.layout.tmp);
    return mkdtemp(join(this.layout.tmp, `${OWNER_TAG}~${prefix}-`));
  }

  tmpName(base: string): string {
    return join(this.layout.tmp, `${OWNER_TAG}~${base}-${randomBytes(4).toString('hex')}`);
  }

  // ---- objects

  /**
   * Moves a staged file into objects/ under its digest. When the object exists it is kept (and the
   * staged file dropped) only if it is intact; a damaged or corrupt one is replaced, atomically.
   */
  async adoptFile(path: string, size: number, exec: boolean, seen?: Stats): Promise<string> {
    // NOTE: synchronous calls: a tree of 100,000 small files waited mostly on libuv's thread pool.
    const digest = await hashFile(path, size);
    const target = this.layout.object(digest);
    const existing = statSync(target, { throwIfNoEntry: false });
    if (existing && (await this.holds(target, digest, existing, size))) {
      unlinkSync(path);
      if (exec) chmodSync(target, 0o555);
      return digest;
    }
    this.ensureDirSync(dirname(target));
    chmodSync(path, exec ? 0o555 : 0o444);
    renameSync(path, target);
    // chmod and rename keep size, mtime and inode, so the caller's stat of the file signs the object.
    this.seenIntact.set(digest, signed(seen ?? statSync(target)));
    return digest;
  }

  /**
   * Stores a staged file as an object and leaves it where it is, as a hard link to that object (one
   * link, where adoptFile and a tree built later took a stat, a rename and a link). An existing
   * intact object is kept, and the file here becomes a link to it; a damaged one is replaced by
   * this file. Returns the digest. NOTE: all synchronous: the link made on libuv's thread pool
   * instead (the other core) cost more CPU in thread hand-offs than it saved on this thread.
   */
  async adoptInPlace(path: string, size: number, exec: boolean, seen: SignedStat): Promise<string> {
    const digest = await hashFile(path, size, exec ? 0o555 : 0o444);
    const target = this.layout.object(digest);
    this.ensureDirSync(dirname(target));
    try {
      linkSync(path, target);
      // chmod and link keep size, mtime and inode, so the caller's stat of the file signs the object.
      this.seenIntact.set(digest, seen);
      return digest;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const existing = statSync(target, { throwIfNoEntry: false });
    if (existing && (await this.holds(target, digest, existing, size))) {
      if (exec) chmodSync(target, 0o555);
      if (!this.replaceWithObject(path, digest))
        throw new Error(`cannot replace ${path} with a link to object ${target}`);
      return digest;
    }
    const tmp = this.tmpName('object');
    linkSync(path, tmp);
    renameSync(tmp, target);
    this.seenIntact.set(digest, seen);
    return digest;
  }

  /**
   * Records an object the tree thread linked from a file of this lstat (hashed, made read-only and
   * linked, as adoptInPlace does): as one this process wrote, so it is not rehashed when checked.
   */
  adoptedElsewhere(digest: string, seen: SignedStat): void {
    this.seenIntact.set(digest, seen);
  }

  /**
   * Puts the object `digest` at `path` in place of what is there (a hard link; a copy with the
   * object's times where the object has all the links the file system allows). False when the
   * object is gone (a concurrent gc): the caller builds the tree from the objects instead.
   */
  replaceWithObject(path: string, digest: string): boolean {
    const source = this.layout.object(digest);
    rmSync(path, { force: true });
    try {
      linkSync(source, path);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return false;
      if (code !== 'EMLINK') throw error;
    }
    copyFileSync(source, path);
    const { atimeMs, mtimeMs } = statSync(source);
    utimesSync(path, atimeMs / 1000, mtimeMs / 1000);
    return true;
  }

  /**
   * Makes the outs a stage stored with adoptInPlace (every file its object's inode, every link
   * checked by the walk) the folder of their tree: moved under trees/ as they are, instead of a
   * link per file made by materialize. Nothing is done when the tree's folder exists; a move that
   * fails leaves materialize to build the folder from the objects.
   */
  async adoptTree(tree: string, root: string, paths: readonly string[]): Promise<void> {
    const dir = this.layout.tree(tree);
    if (existsSync(dir)) return;
    const staging = await this.makeTmpDir('tree');
    try {
      for (const path of paths) {
        mkdirSync(dirname(join(staging, path)), { recursive: true });
        renameSync(join(root, path), join(staging, path));
      }
      await this.ensureDir(dirname(dir));
      renameSync(staging, dir);
      this.intactFolders.add(tree);
    } catch {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** Stores bytes (manifests) as an object; returns the digest. An existing object is kept if equal. */
  async putBytes(data: string | Uint8Array): Promise<string> {
    const digest = await hashBytes(data);
    const target = this.layout.object(digest);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const existing = readIfFile(target);
    if (existing?.equals(bytes)) return digest;
    await this.ensureDir(dirname(target));
    await this.ensureDir(this.layout.tmp);
    const tmp = this.tmpName('object');
    await writeNewFile(tmp, bytes, 0o444);
    renameSync(tmp, target);
    return digest;
  }

  /** True when the object file has its name's content: from the stat cache, else rehashed (any size). */
  private async holds(path: string, digest: string, stat: Stats, size: number): Promise<boolean> {
    if (!stat.isFile() || stat.size !== size) return false;
    const known = this.statCache.known(path, stat);
    if (known !== undefined) return known === digest;
    const actual = await hashFile(path, size);
    this.statCache.remember(path, stat, actual);
    return actual === digest;
  }

  /**
   * Moves a damaged object to quarantine/ (as `verify --repair` does), so it is never served again:
   * every result that uses it becomes a miss and is recomputed. Returns where it went.
   */
  quarantineObject(digest: string): string | undefined {
    const target = this.layout.quarantine(digest, new Date());
    mkdirSync(dirname(target), { recursive: true });
    try {
      renameSync(this.layout.object(digest), target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    this.manifests.delete(digest);
    this.seenIntact.delete(digest);
    this.intactFolders.clear();
    return target;
  }

  readObject(digest: string): Buffer {
    return readFileSync(this.layout.object(digest));
  }

  // ---- trees

  /** Stores a manifest as an object; its digest names the tree. */
  async putManifest(manifest: TreeManifest): Promise<string> {
    return this.putBytes(manifestJson(manifest));
  }

  /**
   * A tree's manifest, validated (validate.ts: no path leaves the tree); memoized, since a run reads
   * each one when checking and again when linking. Throws when it is missing or not a valid manifest.
   */
  readManifest(digest: string): TreeManifest {
    let manifest = this.manifests.get(digest);
    if (!manifest) {
      manifest = parseManifest(this.readObject(digest).toString('utf8'));
      this.manifests.set(digest, manifest);
    }
    return manifest;
  }

  /**
   * readManifest, for a manifest object whose stat checkTree has: taken from the memo of validated
   * files (validated again, which reads nothing) when its stat is unchanged and the stat cache
   * vouches for its content, else read and remembered.
   */
  private manifestAt(tree: string, path: string, stat: Stats, contentKnown: boolean): TreeManifest {
    let manifest = this.manifests.get(tree);
    if (manifest) return manifest;
    const memo = contentKnown ? this.validated.get(path, stat) : undefined;
    if (memo !== undefined && manifestProblem(memo) === undefined) manifest = memo as TreeManifest;
    else {
      manifest = this.readManifest(tree);
      if (stat.size <= MANIFEST_MEMO_MAX) this.validated.remember(path, stat, manifest);
    }
    this.manifests.set(tree, manifest);
    return manifest;
  }

  /**
   * The folder holding a tree's files (hard links into objects/), built once and shared. Checked on
   * every call: each file must be the object's own inode (or, where hard links failed, a copy with
   * the object's size and mtime), so a tree is rebuilt after a corrupt object was replaced.
   */
  async materialize(digest: string): Promise<string> {
    const dir = this.layout.tree(digest);
    if (this.intactFolders.has(digest) && existsSync(dir)) return dir;
    const manifest = this.readManifest(digest);
    if (existsSync(dir)) {
      if (await this.treeLooksIntact(dir, manifest)) return dir;
      await rm(dir, { recursive: true, force: true });
    }
    const staging = await this.makeTmpDir('tree');
    await this.placeFiles(staging, manifest, digest);
    await placeLinks(staging, manifest.links ?? [], digest);
    await this.ensureDir(dirname(dir));
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
  private async placeFiles(staging: string, manifest: TreeManifest, tree: string): Promise<void> {
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
      const source = this.layout.object(file.digest);
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

  /**
   * The cached result of `key`, when it can be served: its run record is readable and every object
   * of its output tree (manifest included) exists with its recorded size, and each object up to
   * VERIFY_ON_READ_MAX hashes to its name. An object verified before at its current stat (the stat
   * cache) is not rehashed, so a fully cached run hashes nothing. A damaged result is reported
   * through `onDamage` and counts as a miss (the stage reruns and rewrites the object).
   */
  async serve(key: string, onDamage?: (damage: Damage) => void): Promise<ServedRecord | undefined> {
    const found = this.lookupServed(key);
    if (found.problem !== undefined)
      onDamage?.({ digest: key, path: this.layout.record(key), record: true, reason: found.problem });
    const record = found.record;
    if (!record) return undefined;
    const damage = await this.checkTree(record.output.tree);
    if (damage) {
      onDamage?.(damage);
      return undefined;
    }
    return record;
  }

  /**
   * The first problem that keeps a tree from being served (see serve), or undefined. A tree folder
   * sealed before (tree-seal.ts) and unchanged since is checked by one walk of it; otherwise every
   * file is checked, through the folder where its file is the object's own inode, and a folder
   * found whole (every file a verified object's inode, every link as the manifest says) is sealed.
   */
  async checkTree(tree: string): Promise<Damage | undefined> {
    const manifestPath = this.layout.object(tree);
    const manifestStat = statSync(manifestPath, { throwIfNoEntry: false });
    if (!manifestStat?.isFile()) return { digest: tree, path: manifestPath, reason: 'is missing' };
    const treeDir = this.layout.tree(tree);
    const folderStat = statSync(treeDir, { throwIfNoEntry: false });
    const folder = folderStat?.isDirectory() ? folderStat : undefined;
    // NOTE: only a big tree is sealed: for a tree of a few files (a no-op of 1,000 stages checks
    // 1,000 of them) the walk costs more system calls than a stat of each file.
    const sealable = manifestStat.size > MANIFEST_MEMO_MAX;
    const sealed = sealable && folder ? sealIn(this.validated.get(treeDir, folder)) : undefined;
    if (sealed !== undefined && (await walkTreeFolder(treeDir, manifestStat))?.seal === sealed) {
      this.intactFolders.add(tree);
      return undefined;
    }
    const manifest = await this.checkedManifest(tree, manifestPath, manifestStat);
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
      const path = this.layout.object(file.digest);
      const linked = walked
        ? inFolder.get(file.path)
        : viaFolder
          ? // A validated manifest's paths are relative and normalised: concatenated, not joined.
            statSync(`${treeDir}/${file.path}`, { throwIfNoEntry: false })
          : undefined;
      if (linked && this.linksVerifiedObject(linked, path, file)) continue;
      viaFolder = false;
      const stat = statSync(path, { throwIfNoEntry: false });
      // The folder's file is still this object's inode, as it was when the walk saw it.
      if (!(linked && stat && sameStat(linked, stat))) whole = false;
      const base = { digest: file.digest, path, file: file.path };
      if (!stat?.isFile()) return { ...base, reason: 'is missing' };
      if (stat.size !== file.size)
        return { ...base, reason: `has ${stat.size} bytes, expected ${file.size}` };
      if (stat.size > VERIFY_ON_READ_MAX) {
        whole = false;
        continue;
      }
      const known = this.verifiedDigest(path, stat, file.digest);
      if (known === undefined) pending.push({ file, path, stat });
      else if (known !== file.digest) return { ...base, reason: corruptReason(known) };
    }
    const damage = await this.hashUnverified(pending);
    if (damage) return damage;
    const linkAt = (rel: string) =>
      walked ? linksInFolder.get(rel) : readLinkOrUndefined(`${treeDir}/${rel}`);
    const links = manifest.links ?? [];
    if ((walked ? whole : viaFolder) && links.every((link) => linkAt(link.path) === link.target)) {
      this.intactFolders.add(tree);
      // NOTE: as the stat cache, never a folder changed in the last moments: a write in the same
      // timestamp tick as the walk could keep every field the seal holds.
      if (walked && Date.now() - walked.newest > RACY_MS)
        this.validated.remember(treeDir, folder!, { seal: walked.seal });
    }
    return undefined;
  }

  /**
   * The manifest of `tree` when its object is intact (known to the stat cache at this stat, or
   * rehashed up to VERIFY_ON_READ_MAX) and valid; otherwise the damage.
   */
  private async checkedManifest(tree: string, path: string, stat: Stats): Promise<TreeManifest | Damage> {
    const known = this.statCache.known(path, stat) === tree;
    if (!known && stat.size <= VERIFY_ON_READ_MAX) {
      const bytes = readIfFile(path);
      const actual = bytes ? await hashBytes(bytes) : undefined;
      if (actual !== tree) return { digest: tree, path, reason: corruptReason(actual) };
      this.statCache.remember(path, stat, tree);
    }
    try {
      return this.manifestAt(tree, path, stat, known);
    } catch (error) {
      return { digest: tree, path, reason: `is not a valid manifest (${(error as Error).message})` };
    }
  }

  /** Hashes the objects no stat vouched for; the first that does not hold its digest is the damage. */
  private async hashUnverified(
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
      if (actual !== undefined) this.statCache.remember(path, stat, actual);
      if (actual === file.digest) this.seenIntact.set(file.digest, signed(stat));
      if (actual !== file.digest)
        return { digest: file.digest, path, file: file.path, reason: corruptReason(actual) };
    }
    return undefined;
  }

  /**
   * The digest this object was verified to hold at `stat` (by this process, or in the stat cache),
   * or undefined when it was not verified at that stat.
   */
  private verifiedDigest(objectPath: string, stat: Stats, digest: string): string | undefined {
    const seen = this.seenIntact.get(digest);
    if (seen && seen.size === stat.size && seen.mtimeMs === stat.mtimeMs && seen.ino === stat.ino)
      return digest;
    return this.statCache.known(objectPath, stat);
  }

  /**
   * True when a tree's file, as `linked` (its lstat) shows it, is the inode of the object at
   * `objectPath`, as the stat cache recorded it when it verified the object's digest: one stat
   * checks both the object and the tree's file. NOTE: this rests on ctime, which the stat cache
   * records (seenIntact does not): linking, unlinking or renaming an inode moves its ctime, as a
   * write moves its mtime, so an object removed, quarantined or rewritten since it was verified no
   * longer matches, and the caller falls back to the object itself.
   */
  private linksVerifiedObject(linked: Stats, objectPath: string, file: TreeEntry): boolean {
    if (file.size > VERIFY_ON_READ_MAX || !linked.isFile() || linked.size !== file.size) return false;
    return this.statCache.known(objectPath, linked) === file.digest;
  }

  private async treeLooksIntact(dir: string, manifest: TreeManifest): Promise<boolean> {
    for (const link of manifest.links ?? [])
      if (readLinkOrUndefined(join(dir, link.path)) !== link.target) return false;
    for (const file of manifest.files) {
      const objectPath = this.layout.object(file.digest);
      const linked = statSync(join(dir, file.path), { throwIfNoEntry: false });
      if (linked && this.linksVerifiedObject(linked, objectPath, file)) continue;
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

  // ---- run records

  /** A run record, or undefined when absent or unusable (a damaged record counts as a miss). */
  readRecord(key: string): RunRecord | undefined {
    return this.lookupRecord(key).record;
  }

  /** A run record, or why the one stored under `key` cannot be used (nothing when there is none). */
  lookupRecord(key: string): { record?: RunRecord; problem?: string } {
    if (!DIGEST.test(key)) return { problem: `"${key}" is not a stage key` };
    return readRecordFile(this.layout.record(key), key);
  }

  /**
   * What serving `key` needs of its record. The stat first: a record unchanged since it was last
   * validated comes from the memo of validated files, which keeps only this much of it (a whole
   * record is ten times the size, and parsing them all was a tenth of a no-op of 5,000 stages); a
   * record replaced meanwhile has a new inode and ctime, and is read and validated again.
   */
  private lookupServed(key: string): { record?: ServedRecord; problem?: string } {
    if (!DIGEST.test(key)) return { problem: `"${key}" is not a stage key` };
    const path = this.layout.record(key);
    let stat: Stats | undefined;
    try {
      stat = statSync(path);
    } catch {
      stat = undefined; // readRecordFile says why
    }
    const memo = stat ? this.validated.get(path, stat) : undefined;
    if (isServedRecord(memo, key)) return { record: memo };
    const found = readRecordFile(path, key);
    if (found.record && stat) {
      const { output, warnings } = found.record;
      this.validated.remember(path, stat, { key, output, warnings } satisfies ServedRecord);
    }
    return found;
  }

  /** Publishes a run record; this rename is the commit point of a stage run. */
  async writeRecord(record: RunRecord): Promise<void> {
    const target = this.layout.record(record.key);
    await this.ensureDir(dirname(target));
    const tmp = this.tmpName('record');
    await writeNewFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
    renameSync(tmp, target);
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
  }

  private ensureDirSync(dir: string): void {
    if (this.madeDirs.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    this.madeDirs.add(dir);
  }
}

/**
 * canonicalJson of a manifest, written out entry by entry in its keys' sorted order: canonicalJson
 * sorts the keys of each of a big tree's 100,000 entries. Byte for byte the same text (a unit test
 * compares them), so trees keep their digests.
 */
export function manifestJson(manifest: TreeManifest): string {
  const text = (value: string) => JSON.stringify(value);
  const files = manifest.files.map(
    (f) =>
      `{"digest":${text(f.digest)},${f.exec ? '"exec":true,' : ''}"path":${text(f.path)},"size":${JSON.stringify(f.size)}}`,
  );
  const links = manifest.links?.map((l) => `{"path":${text(l.path)},"target":${text(l.target)}}`);
  return `{"dirs":[${manifest.dirs.map(text).join(',')}],"files":[${files.join(',')}],"format":${manifest.format}${
    links ? `,"links":[${links.join(',')}]` : ''
  }}`;
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

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Two mtimes (ms) are the same time: a copy's mtime is set from the object's through seconds held
 * in a double, which keeps about a tenth of a microsecond, so it comes back a few hundred
 * nanoseconds off. A write to the copy moves its mtime by far more.
 */
function sameTime(a: number, b: number): boolean {
  return Math.abs(a - b) < 0.001;
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

function signed(stat: SignedStat): SignedStat {
  return { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino };
}

function readIfFile(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function corruptReason(actual: string | undefined): string {
  return actual === undefined ? 'cannot be read' : `is corrupt (its content hashes to ${actual})`;
}

// ---- opening a cache folder
