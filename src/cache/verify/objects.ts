// Objects: every file under objects/ must hash to its name. The states found are kept, so records
// and trees that use an object ask here instead of hashing it again.
import { type Dirent, lstatSync, readdirSync, readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { hashFile } from '../hash.ts';
import { DIGEST, NAMES } from '../layout.ts';
import type { CacheStore, TreeManifest } from '../store.ts';
import { parseManifest } from '../validate.ts';
import type { Findings } from './findings.ts';

/**
 * What the checks need to know of an object's stat. NOTE: not the whole Stats (with four Dates):
 * a state is kept for every object, and a cache of 100,000 objects held 100,000 of them.
 */
export interface ObjectStat {
  size: number;
  ino: number;
  dev: number;
}

export type ObjectState =
  | { state: 'ok'; stat: ObjectStat }
  | { state: 'corrupt'; stat: ObjectStat; reason: string }
  | { state: 'missing' };

/** An object file found by the listing; it is stat'ed again when hashed. */
interface Listed {
  path: string;
  name: string;
  size: number;
}

export interface HashProgress {
  objects: number;
  totalObjects: number;
  bytes: number;
  totalBytes: number;
}

export class ObjectStates {
  private readonly states = new Map<string, ObjectState>();
  private readonly manifests = new Map<string, TreeManifest | string>();
  /** Objects hashed and their bytes. */
  hashed = 0;
  hashedBytes = 0;

  constructor(
    private readonly store: CacheStore,
    private readonly findings: Findings,
  ) {}

  /** Hashes every object under objects/; names the store never makes are findings. */
  async checkAll(onProgress?: (progress: HashProgress) => void): Promise<void> {
    const listed = this.list();
    const totalBytes = listed.reduce((n, o) => n + o.size, 0);
    for (const { path, name } of listed) {
      const stat = lstatOrUndefined(path);
      if (stat?.isFile()) await this.hash(name, path, stat);
      else this.states.set(name, { state: 'missing' }); // removed meanwhile (gc)
      onProgress?.({
        objects: this.hashed,
        totalObjects: listed.length,
        bytes: this.hashedBytes,
        totalBytes,
      });
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

  private list(): Listed[] {
    const root = this.store.layout.dir('objects');
    const listed: Listed[] = [];
    for (const entry of sortedEntries(root)) {
      const path = join(root, entry.name);
      if (!(entry.isDirectory() && NAMES.fanout.test(entry.name))) {
        this.findings.foreign(
          'object',
          path,
          entry.name,
          'is not an object (objects/ holds only ab/ folders)',
        );
        continue;
      }
      for (const inner of sortedEntries(path)) {
        const file = join(path, inner.name);
        const stat = lstatOrUndefined(file);
        if (!stat) continue; // removed meanwhile (gc)
        if (!DIGEST.test(inner.name) || !stat.isFile())
          this.findings.foreign(
            'object',
            file,
            inner.name,
            'is not an object (not a file named by a digest)',
          );
        else if (inner.name.slice(0, 2) !== entry.name)
          this.findings.foreign(
            'object',
            file,
            inner.name,
            `is in the wrong folder (objects/${entry.name}/)`,
            inner.name,
          );
        else listed.push({ path: file, name: inner.name, size: stat.size });
      }
    }
    return listed;
  }

  private async hash(digest: string, path: string, stat: Stats): Promise<ObjectState> {
    let state: ObjectState;
    try {
      const actual = await hashFile(path, stat.size);
      // What verify learned is what `run` trusts next: an object verified at this stat is not
      // rehashed, and one found corrupt is not served even if an earlier check had passed it.
      this.store.statCache.remember(path, stat, actual);
      state =
        actual === digest
          ? { state: 'ok', stat: compact(stat) }
          : { state: 'corrupt', stat: compact(stat), reason: `its content hashes to ${actual}` };
    } catch (error) {
      state = {
        state: 'corrupt',
        stat: compact(stat),
        reason: `cannot be read (${(error as Error).message})`,
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
  return { size: stat.size, ino: stat.ino, dev: stat.dev };
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
