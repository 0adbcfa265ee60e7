// The content-addressed store: objects, tree manifests and run records. Every write goes to tmp/
// first and is renamed into place, so a reader never sees a half-written entry. Whether a tree may
// be served is tree-check.ts's to say, and laying one out as files is tree-materialize.ts's; the
// store keeps what they remember within a process (seenIntact, intactFolders).
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
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readFileOrUndefined } from '../util/file-ops.ts';
import { writeNewFile } from '../util/write-new-file.ts';
import { cacheAccessError, initCacheFolder, inspectCacheFolder } from './cache-folder.ts';
import type { Damage } from './damage.ts';
import { hashBytes, hashFile } from './hash.ts';
import { CacheLayout, DIGEST } from './layout.ts';
import { OWNER_TAG } from './liveness.ts';
import type { RunRecord, ServedRecord } from './record.ts';
import { isServedRecord, readRecordFile } from './record-file.ts';
import { StatCache } from './stat-cache.ts';
import { checkTree, MANIFEST_MEMO_MAX, signed } from './tree-check.ts';
import { manifestJson, type TreeManifest } from './tree-manifest.ts';
import { materialize } from './tree-materialize.ts';
import { manifestProblem, parseManifest } from './validate.ts';
import { ValidatedFiles } from './validated-files.ts';

/** What an object's signature in seenIntact takes of a stat. */
export type SignedStat = Pick<Stats, 'size' | 'mtimeMs' | 'ino'>;

export class CacheStore {
  readonly layout: CacheLayout;
  readonly statCache: StatCache;
  /** Records and manifests read before, by path and stat: a fully cached run reads neither again. */
  readonly validated: ValidatedFiles;
  private readonly madeDirs = new Set<string>();
  private readonly manifests = new Map<string, TreeManifest>();
  /**
   * (For tree-check.ts.) Objects this process wrote or hashed, by digest → size, mtime and inode
   * then. The stat cache skips files changed in the last moments (racy), so without this every
   * object a stage just wrote would be rehashed when its consumer checks it. Not ctime: linking an
   * object into a tree moves it. NOTE: keyed by the digest a manifest entry holds anyway, and a
   * stat record the caller made (no path, no text per object): a stored tree of 100,000 files made
   * 200,000 strings here, which the garbage collector copied again and again.
   */
  readonly seenIntact = new Map<string, SignedStat>();
  /**
   * (For tree-check.ts and tree-materialize.ts.) Trees whose folder checkTree found to hold the verified objects' own inodes and the manifest's
   * links (file by file, or by its seal): the same process materializes them without a second look
   * (a fully cached run checks each tree when planning and links it into runs/ at the end). A
   * quarantine in this process, or a tree folder removed meanwhile (input-guard.ts), drops or
   * bypasses this.
   */
  readonly intactFolders = new Set<string>();

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
    const existing = readFileOrUndefined(target);
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
   * (For tree-check.ts.) readManifest, for a manifest object whose stat checkTree has: taken from the memo of validated
   * files (validated again, which reads nothing) when its stat is unchanged and the stat cache
   * vouches for its content, else read and remembered.
   */
  manifestAt(tree: string, path: string, stat: Stats, contentKnown: boolean): TreeManifest {
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

  /** The folder holding a tree's files, built when missing or no longer whole (tree-materialize.ts). */
  materialize(digest: string): Promise<string> {
    return materialize(this, digest);
  }

  /** The first problem that keeps a tree from being served, or undefined (tree-check.ts). */
  checkTree(tree: string): Promise<Damage | undefined> {
    return checkTree(this, tree);
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

  /** (For tree-materialize.ts.) Makes a folder once per process. */
  async ensureDir(dir: string): Promise<void> {
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
