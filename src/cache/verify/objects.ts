// Objects: every file under objects/ must hash to its name. The states found are kept, so records
// and trees that use an object ask here instead of hashing it again.
import { type Dirent, lstatSync, readdirSync, readFileSync, type Stats } from 'node:fs';
import { hashFile } from '../hash.ts';
import { DIGEST, NAMES } from '../layout.ts';
import { RACY_MS } from '../stat-cache.ts';
import type { CacheStore } from '../store.ts';
import type { TreeManifest } from '../tree-manifest.ts';
import { parseManifest } from '../validate.ts';
import type { Findings } from './findings.ts';
import { StateTable } from './state-table.ts';

/**
 * What the checks need to know of an object's stat, and what the stat cache records of it. NOTE:
 * not the whole Stats (with four Dates): a state is kept for every object, and a cache of 100,000
 * objects held 100,000 of them.
 */
export interface ObjectStat {
  size: number;
  ino: number;
  dev: number;
  mtimeMs: number;
  ctimeMs: number;
}

export type ObjectState =
  | { state: 'ok'; stat: ObjectStat; remember: boolean }
  | {
      state: 'corrupt';
      stat: ObjectStat;
      reason: string;
      /** What its content hashes to (absent when it could not be read), for the stat cache. */
      actual?: string;
      remember: boolean;
    }
  | { state: 'missing' };

export interface HashProgress {
  objects: number;
  totalObjects: number;
  bytes: number;
  totalBytes: number;
}

export class ObjectStates {
  private readonly states = new StateTable();
  private readonly manifests = new Map<string, TreeManifest | string>();
  /** Objects hashed and their bytes. */
  hashed = 0;
  hashedBytes = 0;

  constructor(
    private readonly store: CacheStore,
    private readonly findings: Findings,
  ) {}

  /**
   * Hashes every object under objects/, one fanout folder at a time as it lists them (a list of
   * every object first held 100,000 paths); names the store never makes are findings. The totals
   * that progress reports take one more listing, made only when progress is shown.
   */
  async checkAll(onProgress?: (progress: HashProgress) => void): Promise<void> {
    const totals = { totalObjects: 0, totalBytes: 0 };
    if (onProgress)
      for (const { stat } of this.listed(false)) {
        totals.totalObjects++;
        totals.totalBytes += stat.size;
      }
    for (const { name, path, stat } of this.listed(true)) {
      await this.hash(name, path, stat);
      onProgress?.({ objects: this.hashed, bytes: this.hashedBytes, ...totals });
    }
  }

  /** An object's state; one that appeared since the listing (a concurrent run) is hashed now. */
  async stateOf(digest: string): Promise<ObjectState> {
    const known = this.states.get(digest);
    if (known) return known;
    const path = this.store.layout.object(digest);
    const stat = DIGEST.test(digest) ? lstatOrUndefined(path) : undefined;
    if (!stat?.isFile()) {
      const missing: ObjectState = { state: 'missing' };
      this.states.set(digest, missing);
      return missing;
    }
    return this.hash(digest, path, stat);
  }

  /**
   * An object's state when it is known (its stat copied into `into`), without making one; else
   * undefined (stateOf finds it).
   */
  peek(digest: string, into: ObjectStat): 'ok' | 'corrupt' | 'missing' | undefined {
    return this.states.peek(digest, into);
  }

  /** A tree's manifest, or why it cannot be used. */
  async manifestOf(tree: string): Promise<TreeManifest | string> {
    const cached = this.manifests.get(tree);
    if (cached !== undefined) return cached;
    const state = await this.stateOf(tree);
    let result: TreeManifest | string;
    if (state.state === 'missing') result = `its manifest object ${tree} is missing`;
    else if (state.state === 'corrupt') result = `its manifest object ${tree} is corrupt`;
    else {
      try {
        result = parseManifest(readFileSync(this.store.layout.object(tree), 'utf8'));
      } catch (error) {
        result = `its manifest object ${tree} is not a valid manifest (${(error as Error).message})`;
      }
    }
    this.manifests.set(tree, result);
    return result;
  }

  /**
   * What verify learned is what `run` trusts next: an object verified at its stat is not rehashed,
   * and one found corrupt is not served even if an earlier check had passed it. Hands the stat
   * cache the objects hashed since the last call, and saves it. NOTE: called once the objects are
   * hashed, before any manifest is read, and the stat cache is unloaded after: it (15 MB of text
   * for 100,000 objects) and the manifests were verify's peak memory when held together.
   */
  rememberNew(): void {
    const { statCache, layout } = this.store;
    this.states.forEachRemembered(this.remembered, (digest, stat, actual) =>
      statCache.remember(layout.object(digest), stat, actual),
    );
    this.remembered = this.states.size;
    statCache.save(layout.tmp);
    statCache.unload();
  }

  /** How many states (in the table's order) rememberNew handed on. */
  private remembered = 0;

  /**
   * The object files under objects/ with their lstat, listed one folder at a time. With `report`,
   * entries the store never makes are findings.
   */
  private *listed(report: boolean): Generator<{ name: string; path: string; stat: Stats }> {
    const root = this.store.layout.dir('objects');
    const foreign = (path: string, name: string, reason: string, digest?: string) => {
      if (report) this.findings.foreign('object', path, name, reason, digest);
    };
    // NOTE: names from a listing hold no separator: concatenated, not joined (join normalises each
    // of 100,000 paths, and its garbage set verify's peak memory).
    for (const entry of sortedEntries(root)) {
      const path = `${root}/${entry.name}`;
      if (!(entry.isDirectory() && NAMES.fanout.test(entry.name))) {
        foreign(path, entry.name, 'is not an object (objects/ holds only ab/ folders)');
        continue;
      }
      for (const inner of sortedEntries(path)) {
        const file = `${path}/${inner.name}`;
        const stat = lstatOrUndefined(file);
        if (!stat) continue; // removed meanwhile (gc)
        if (!DIGEST.test(inner.name) || !stat.isFile())
          foreign(file, inner.name, 'is not an object (not a file named by a digest)');
        else if (inner.name.slice(0, 2) !== entry.name)
          foreign(file, inner.name, `is in the wrong folder (objects/${entry.name}/)`, inner.name);
        else yield { name: inner.name, path: file, stat };
      }
    }
  }

  private async hash(digest: string, path: string, stat: Stats): Promise<ObjectState> {
    let state: ObjectState;
    // As the stat cache decides, at the time of hashing (rememberNew comes later).
    const remember = Date.now() - Math.max(stat.mtimeMs, stat.ctimeMs) > RACY_MS;
    try {
      const actual = await hashFile(path, stat.size);
      state =
        actual === digest
          ? { state: 'ok', stat: compact(stat), remember }
          : {
              state: 'corrupt',
              stat: compact(stat),
              reason: `its content hashes to ${actual}`,
              actual,
              remember,
            };
    } catch (error) {
      state = {
        state: 'corrupt',
        stat: compact(stat),
        reason: `cannot be read (${(error as Error).message})`,
        remember,
      };
    }
    this.hashedBytes += stat.size;
    this.hashed++;
    if (state.state === 'corrupt')
      this.findings.foreign('object', path, digest, `is corrupt: ${state.reason}`, digest);
    this.states.set(digest, state);
    return state;
  }
}

function compact(stat: Stats): ObjectStat {
  return { size: stat.size, ino: stat.ino, dev: stat.dev, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs };
}

/** A folder's entries sorted by name (reports in a stable order); none when it cannot be read. */
export function sortedEntries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  } catch {
    return [];
  }
}

export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
