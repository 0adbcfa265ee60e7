// Remembers (path, size, mtime, ctime, inode) → digest so unchanged large inputs are not rehashed
// (git's index does the same). Entries for files modified in the last few seconds are not kept,
// because a same-size rewrite within the filesystem's timestamp granularity would go unnoticed.
// Cache objects are entered under their own path: an entry whose digest is the object's name records
// that the object was verified at that stat (see CacheStore.serve).
import { readFileSync, renameSync, rmSync, type Stats, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashFile } from './hash.ts';
import { OWNER_TAG } from './liveness.ts';

type Entry = [size: number, mtimeMs: number, ctimeMs: number, ino: number, digest: string];

/**
 * Whether a remembered file is unchanged: the same size, mtime, ctime and inode as when its entry was
 * written (ctime catches a rewrite in place that restores the mtime). The one rule for every memo
 * keyed by a file's stat (this cache and validated-files.ts).
 */
export function statUnchanged(
  entry: readonly [number, number, number, number, ...unknown[]],
  stat: Stats,
): boolean {
  return (
    entry[0] === stat.size && entry[1] === stat.mtimeMs && entry[2] === stat.ctimeMs && entry[3] === stat.ino
  );
}
/** Files changed this recently are not remembered (a same-size rewrite in the same timestamp tick). */
export const RACY_MS = 2000;

export class StatCache {
  private entries: Record<string, Entry> | undefined;
  /** The file's signature when `entries` was read from it (undefined: there was none). */
  private loadedFrom: string | undefined;
  private dirty = false;

  constructor(private readonly file: string) {}

  /** Digest of a file, from the stat cache when its stat matches, else hashed and remembered. */
  async digest(path: string, stat: Stats): Promise<string> {
    const known = this.known(path, stat);
    if (known !== undefined) return known;
    const digest = await hashFile(path, stat.size);
    this.remember(path, stat, digest);
    return digest;
  }

  /** The digest remembered for a file whose stat has not changed since it was hashed; never hashes. */
  known(path: string, stat: Stats): string | undefined {
    const hit = this.load()[path];
    return hit && statUnchanged(hit, stat) ? hit[4] : undefined;
  }

  /**
   * Remembers the digest just computed for a file with this stat (cache objects use it to record
   * when they were last verified). Skipped for files changed in the last RACY_MS.
   */
  remember(path: string, stat: Stats, digest: string): void {
    if (Date.now() - Math.max(stat.mtimeMs, stat.ctimeMs) <= RACY_MS) return;
    const entries = this.load();
    const hit = entries[path];
    if (
      hit &&
      hit[0] === stat.size &&
      hit[1] === stat.mtimeMs &&
      hit[2] === stat.ctimeMs &&
      hit[3] === stat.ino &&
      hit[4] === digest
    )
      return; // `verify` re-remembers every object: an unchanged entry neither costs memory nor a save
    entries[path] = [stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino, digest];
    this.dirty = true;
  }

  /** Writes new entries, merged with what concurrent runs saved meanwhile (last writer wins per path). */
  save(tmpDir: string): void {
    if (!this.dirty || !this.entries) return;
    // NOTE: when the file is still the one loaded, there is nothing to merge: a cache of 100,000
    // objects would parse its 15 MB again, and hold both copies, for nothing.
    const unchanged = this.loadedFrom !== undefined && this.loadedFrom === fileSignature(this.file);
    this.write(tmpDir, unchanged ? this.entries : Object.assign(readEntries(this.file), this.entries));
    this.dirty = false;
  }

  /** Drops the saved entries for which `drop(path)` is true (gc: objects it removed). No merge. */
  prune(tmpDir: string, drop: (path: string) => boolean): void {
    const entries = readEntries(this.file);
    const kept = Object.fromEntries(Object.entries(entries).filter(([path]) => !drop(path)));
    if (Object.keys(kept).length !== Object.keys(entries).length) this.write(tmpDir, kept);
    this.entries = undefined;
    this.dirty = false;
  }

  /** An accelerator: a failed write (a full disk) is dropped, not an error. */
  private write(tmpDir: string, entries: Record<string, Entry>): void {
    const tmp = join(tmpDir, `${OWNER_TAG}~stat-cache-${Date.now()}.json`);
    try {
      writeFileSync(tmp, JSON.stringify(entries));
      renameSync(tmp, this.file);
    } catch {
      rmSync(tmp, { force: true });
    }
  }

  private load(): Record<string, Entry> {
    if (this.entries === undefined) {
      this.loadedFrom = fileSignature(this.file);
      this.entries = readEntries(this.file);
    }
    return this.entries;
  }
}

/** The stat of the saved file, to tell whether another run replaced it since it was read. */
function fileSignature(file: string): string | undefined {
  const stat = statSync(file, { throwIfNoEntry: false });
  return stat ? `${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}:${stat.ino}` : undefined;
}

function readEntries(file: string): Record<string, Entry> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8'));
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {}; // missing or damaged: it is only an accelerator, start over
  }
}
