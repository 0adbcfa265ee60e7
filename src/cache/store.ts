// The content-addressed store: objects, run records and materialized trees. Every write goes to
// tmp/ first and is renamed into place, so a reader never sees a half-written entry.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { chmod, copyFile, link, lstat, mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PipeError } from '../errors.ts';
import { canonicalJson } from './canonical.ts';
import { hashBytes, hashFile } from './hash.ts';
import { CACHE_FORMAT, CacheLayout } from './layout.ts';
import type { RunRecord } from './record.ts';
import { StatCache } from './stat-cache.ts';

/** A file of an output tree. */
export interface TreeEntry {
  path: string;
  digest: string;
  size: number;
  exec?: true;
}

/** An output tree: the files a stage produced, by relative POSIX path, plus empty folders. */
export interface TreeManifest {
  format: 1;
  files: TreeEntry[];
  dirs: string[];
}

export class CacheStore {
  readonly layout: CacheLayout;
  readonly statCache: StatCache;
  private readonly madeDirs = new Set<string>();
  private readonly manifests = new Map<string, TreeManifest>();

  private constructor(readonly root: string) {
    this.layout = new CacheLayout(root);
    this.statCache = new StatCache(this.layout.statCache);
  }

  /** Opens (creating if needed) a cache folder and checks its format. */
  static open(root: string): CacheStore {
    const store = new CacheStore(root);
    const marker = join(root, 'FORMAT');
    let format: string | undefined;
    try {
      format = readFileSync(marker, 'utf8').trim();
    } catch {
      mkdirSync(store.layout.tmp, { recursive: true });
      // Tells backup tools (tar --exclude-caches, borg, restic) that this folder can be rebuilt.
      writeFileSync(join(root, 'CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n# gpt2o-pipe cache\n');
      const tmp = join(store.layout.tmp, `${process.pid}-FORMAT`);
      writeFileSync(tmp, `${CACHE_FORMAT}\n`);
      renameSync(tmp, marker);
      format = CACHE_FORMAT;
    }
    if (format !== CACHE_FORMAT) {
      throw new PipeError(`cache ${root} has format "${format}", this gpt2o-pipe uses "${CACHE_FORMAT}"`, {
        code: 'E_CACHE_FORMAT',
        hint: 'use another --cache folder, or delete this one (it can be rebuilt)',
      });
    }
    return store;
  }

  /** A fresh private folder under tmp/ for staging; named "<pid>-…" so gc can tell leftovers of dead runs. */
  async makeTmpDir(prefix: string): Promise<string> {
    await mkdir(this.layout.tmp, { recursive: true });
    return mkdtemp(join(this.layout.tmp, `${process.pid}-${prefix}-`));
  }

  tmpName(base: string): string {
    return join(this.layout.tmp, `${process.pid}-${base}-${randomBytes(4).toString('hex')}`);
  }

  // ---- objects

  /** Moves a staged file into objects/ under its digest (or drops it if the object exists). */
  async adoptFile(path: string, size: number, exec: boolean): Promise<string> {
    const digest = await hashFile(path, size);
    const target = this.layout.object(digest);
    if (await exists(target)) {
      await unlink(path);
      if (exec) await chmod(target, 0o555);
      return digest;
    }
    await this.ensureDir(dirname(target));
    await chmod(path, exec ? 0o555 : 0o444);
    await rename(path, target);
    return digest;
  }

  /** Stores bytes (manifests, logs) as an object; returns the digest. */
  async putBytes(data: string | Uint8Array): Promise<string> {
    const digest = await hashBytes(data);
    const target = this.layout.object(digest);
    if (await exists(target)) return digest;
    await this.ensureDir(dirname(target));
    await mkdir(this.layout.tmp, { recursive: true });
    const tmp = this.tmpName('object');
    await writeFile(tmp, data, { mode: 0o444 });
    await rename(tmp, target);
    return digest;
  }

  readObject(digest: string): Buffer {
    return readFileSync(this.layout.object(digest));
  }

  // ---- trees

  /** Stores a manifest as an object; its digest names the tree. */
  async putManifest(manifest: TreeManifest): Promise<string> {
    return this.putBytes(canonicalJson(manifest));
  }

  /** A tree's manifest; memoized, since a run reads each one when checking and again when linking. */
  readManifest(digest: string): TreeManifest {
    let manifest = this.manifests.get(digest);
    if (!manifest) {
      manifest = JSON.parse(this.readObject(digest).toString('utf8')) as TreeManifest;
      this.manifests.set(digest, manifest);
    }
    return manifest;
  }

  /**
   * The folder holding a tree's files (hard links into objects/), built once and shared. A cheap
   * integrity check runs on every call: each file must exist with its recorded size.
   */
  async materialize(digest: string): Promise<string> {
    const dir = this.layout.tree(digest);
    const manifest = this.readManifest(digest);
    if (existsSync(dir)) {
      if (treeLooksIntact(dir, manifest)) return dir;
      await rm(dir, { recursive: true, force: true });
    }
    const staging = await this.makeTmpDir('tree');
    for (const d of manifest.dirs) await mkdir(join(staging, d), { recursive: true });
    for (const file of manifest.files) {
      const dest = join(staging, file.path);
      await mkdir(dirname(dest), { recursive: true });
      const source = this.layout.object(file.digest);
      try {
        await link(source, dest);
      } catch {
        await copyFile(source, dest);
      }
    }
    await this.ensureDir(dirname(dir));
    try {
      await rename(staging, dir);
    } catch (error) {
      // Another process materialized the same tree first: theirs is identical, use it.
      if (!['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
      await rm(staging, { recursive: true, force: true });
    }
    return dir;
  }

  /**
   * True when every object of a tree is present with the right size: a cheap check (stat, not a
   * rehash) run before a cached result is served. Synchronous on purpose: a fully cached run does
   * hundreds of these, and a sync stat costs microseconds where an async round trip costs far more.
   */
  hasTree(digest: string): boolean {
    let manifest: TreeManifest;
    try {
      manifest = this.readManifest(digest);
    } catch {
      return false;
    }
    for (const file of manifest.files) {
      if (statSync(this.layout.object(file.digest), { throwIfNoEntry: false })?.size !== file.size) return false;
    }
    return true;
  }

  // ---- run records

  /** The run record of `key` when its output tree is intact: a result that can be served. */
  lookup(key: string): RunRecord | undefined {
    const record = this.readRecord(key);
    return record && this.hasTree(record.output.tree) ? record : undefined;
  }

  /** A run record, or undefined when absent or unreadable (a damaged record counts as a miss). */
  readRecord(key: string): RunRecord | undefined {
    let text: string;
    try {
      text = readFileSync(this.layout.record(key), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const record = JSON.parse(text) as RunRecord;
      return record.key === key ? record : undefined;
    } catch {
      return undefined;
    }
  }

  /** Publishes a run record; this rename is the commit point of a stage run. */
  async writeRecord(record: RunRecord): Promise<void> {
    const target = this.layout.record(record.key);
    await this.ensureDir(dirname(target));
    const tmp = this.tmpName('record');
    await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(tmp, target);
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

function treeLooksIntact(dir: string, manifest: TreeManifest): boolean {
  for (const file of manifest.files) {
    if (statSync(join(dir, file.path), { throwIfNoEntry: false })?.size !== file.size) return false;
  }
  return true;
}
