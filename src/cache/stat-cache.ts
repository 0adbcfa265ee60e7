// Remembers (path, size, mtime, ctime, inode) → digest so unchanged large inputs are not rehashed
// (git's index does the same). Entries for files modified in the last few seconds are not kept,
// because a same-size rewrite within the filesystem's timestamp granularity would go unnoticed.
// Cache objects are entered under their own path: an entry whose digest is the object's name records
// that the object was verified at that stat (see CacheStore.serve).
import { readFileSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';
import { replaceFileSync } from '../util/file-ops.ts';
import { hashFile } from './hash.ts';
import { OWNER_TAG } from './liveness.ts';

/** What the stat cache compares of a file's stat (a Stats, or a compact copy of one). */
export type StatKey = Pick<Stats, 'size' | 'mtimeMs' | 'ctimeMs' | 'ino'>;

/**
 * Whether a remembered file is unchanged: the same size, mtime, ctime and inode as when its entry was
 * written (ctime catches a rewrite in place that restores the mtime). The one rule for every memo
 * keyed by a file's stat (this cache and validated-files.ts).
 */
export function statUnchanged(
  entry: readonly [number, number, number, number, ...unknown[]],
  stat: StatKey,
): boolean {
  return (
    entry[0] === stat.size && entry[1] === stat.mtimeMs && entry[2] === stat.ctimeMs && entry[3] === stat.ino
  );
}
/** Files changed this recently are not remembered (a same-size rewrite in the same timestamp tick). */
export const RACY_MS = 2000;

/**
 * What the stat cache compares of a stat, as text: the four fields statUnchanged compares, in its
 * order. A number prints as the shortest text that reads back as the same double, so two stats
 * have the same text exactly when statUnchanged would call them equal.
 */
function statText(stat: StatKey): string {
  return `${stat.size}\t${stat.mtimeMs}\t${stat.ctimeMs}\t${stat.ino}\t`;
}

// NOTE: the file is text, one line per file: "size, mtime, ctime, inode, digest, path", tab
// separated, the path last (it may hold tabs; a path with a line break is not remembered). It was
// JSON: 15 MB for 100,000 objects, parsed into 100,000 arrays (30 MB of heap, ~150 ms) by every
// command that read it. Each entry is kept as the two slices of its line that it is.
const HEADER = 'gpt2o-stat-cache 2\n';

/** Per path: statText of the file when it was hashed, then its digest. */
type Entries = Map<string, string>;

export class StatCache {
  private entries: Entries | undefined;
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
  known(path: string, stat: StatKey): string | undefined {
    const hit = this.load().get(path);
    if (hit === undefined) return undefined;
    const text = statText(stat);
    return hit.startsWith(text) ? hit.slice(text.length) : undefined;
  }

  /**
   * Remembers the digest just computed for a file with this stat (cache objects use it to record
   * when they were last verified). Skipped for files changed in the last RACY_MS.
   */
  remember(path: string, stat: StatKey, digest: string): void {
    if (Date.now() - Math.max(stat.mtimeMs, stat.ctimeMs) <= RACY_MS) return;
    if (/[\n\r]/.test(path) || /[\t\n\r]/.test(digest)) return; // not expressible as one line
    const entries = this.load();
    const value = statText(stat) + digest;
    // `verify` re-remembers every object: an unchanged entry neither costs memory nor a save.
    if (entries.get(path) === value) return;
    entries.set(path, value);
    this.dirty = true;
  }

  /** Writes new entries, merged with what concurrent runs saved meanwhile (last writer wins per path). */
  save(tmpDir: string): void {
    if (!this.dirty || !this.entries) return;
    // NOTE: when the file is still the one loaded, there is nothing to merge: a cache of 100,000
    // objects would read it again, and hold both copies, for nothing.
    const unchanged = this.loadedFrom !== undefined && this.loadedFrom === fileSignature(this.file);
    if (unchanged) this.write(tmpDir, this.entries);
    else {
      const merged = readEntries(this.file);
      for (const [path, value] of this.entries) merged.set(path, value);
      this.write(tmpDir, merged);
    }
    this.dirty = false;
  }

  /** Lets go of the entries read (after a save): the next use reads the file again. */
  unload(): void {
    if (this.dirty) throw new Error('stat cache unloaded before its changes were saved');
    this.entries = undefined;
  }

  /** Drops the saved entries for which `drop(path)` is true (gc: objects it removed). No merge. */
  prune(tmpDir: string, drop: (path: string) => boolean): void {
    const entries = readEntries(this.file);
    const before = entries.size;
    for (const path of entries.keys()) if (drop(path)) entries.delete(path);
    if (entries.size !== before) this.write(tmpDir, entries);
    this.entries = undefined;
    this.dirty = false;
  }

  /** An accelerator: a failed write (a full disk) is dropped, not an error. */
  private write(tmpDir: string, entries: Entries): void {
    const lines: string[] = [HEADER];
    for (const [path, value] of entries) lines.push(`${value}\t${path}\n`);
    try {
      replaceFileSync(this.file, lines.join(''), join(tmpDir, `${OWNER_TAG}~stat-cache-${Date.now()}.txt`));
    } catch {
      // dropped (see above)
    }
  }

  private load(): Entries {
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

/** The saved entries; none when the file is missing or not ours (it is only an accelerator). */
function readEntries(file: string): Entries {
  const entries: Entries = new Map();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return entries;
  }
  if (!text.startsWith(HEADER)) return entries;
  for (let at = HEADER.length; at < text.length; ) {
    const end = text.indexOf('\n', at);
    if (end < 0) break; // a torn last line: dropped
    // The path starts after the fifth tab; a line with fewer is damaged and skipped.
    let tab = at - 1;
    for (let field = 0; field < 5 && tab < end; field++) {
      tab = text.indexOf('\t', tab + 1);
      if (tab < 0) tab = end;
    }
    if (tab < end) entries.set(text.slice(tab + 1, end), text.slice(at, tab));
    at = end + 1;
  }
  return entries;
}
