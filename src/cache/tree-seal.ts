// A materialized tree checked as a whole. A fully cached run used to check each file of an output
// tree against the stat cache (a 15 MB JSON for 100,000 objects, parsed on every run) after reading
// the tree's manifest from a memo just as big. Once a tree folder has been found, file by file, to
// be exactly its manifest with every file the inode of a verified object, one walk of that folder
// (each entry's name, kind, size, mtime, ctime and inode, and each link's target) is hashed into a
// seal. A later run walks the folder again and compares seals: equal, nothing was added, removed,
// renamed or written since, because a write moves an inode's mtime or ctime, and linking, unlinking
// or renaming it (gc, a quarantine, a replaced object) moves its ctime, which no one can set back.
// The manifest object's own stat is sealed too, so a damaged manifest still counts.
import { createHash, type Hash } from 'node:crypto';
import { type Dirent, readdirSync, readlinkSync, type Stats } from 'node:fs';
import {
  DIR,
  FILE,
  GONE,
  LINK,
  lstatInto,
  lstatShared,
  OTHER,
  STAT_FIELDS,
  warmTreeThread,
} from './tree-thread.ts';

/** What a walk of a tree folder saw. */
export interface FolderWalk {
  /** The seal: a digest of every entry the walk saw, in the order it saw them. */
  seal: string;
  /** The latest mtime or ctime seen (ms): a folder changed in the last moments is not sealed. */
  newest: number;
}

/** What a walk hands to its caller for each file and link (relative POSIX path, its lstat). */
export type EntryVisitor = (rel: string, stat: Stats, target?: string) => void;

/**
 * Walks `dir` (a tree folder) and returns its seal; undefined when the folder is not there (or not
 * a folder). `manifestStat`, the stat of the tree's manifest object, is part of the seal.
 * `visit`, when given, sees every file and link (the check that decides whether to seal uses it).
 * Without it (a sealed folder checked again) the lstat of each entry is shared with the tree
 * thread (tree-thread.ts). NOTE: lstat, not stat: a link put where a file was is a change, never
 * followed.
 */
export async function walkTreeFolder(
  dir: string,
  manifestStat: Stats,
  visit?: EntryVisitor,
): Promise<FolderWalk | undefined> {
  // Only big trees are sealed, so the thread will be used: it starts while the folder is listed.
  if (!visit) warmTreeThread();
  const listing = listFolder(dir);
  if (!listing) return undefined;
  const { entries } = listing;
  const targets = new Map<number, string>();
  let stats: Float64Array;
  if (visit) {
    stats = new Float64Array(Math.max(1, entries) * STAT_FIELDS);
    for (let i = 0; i < entries; i++) {
      // Synchronous calls (a promise per lstat costs more than the lstat), with a yield now and
      // then so the other stages of a run are not held up.
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
      const stat = lstatInto(stats, i, listing.path(i));
      if (!stat) return undefined; // removed meanwhile: not a folder to seal
      const target = stat.isSymbolicLink() ? readlinkSync(listing.path(i)) : undefined;
      if (target !== undefined) targets.set(i, target);
      visit(listing.rel(i), stat, target);
    }
  } else {
    const { folders, folderOf, names } = listing.forThread();
    stats = await lstatShared(folders, folderOf, names);
  }
  const sink = new SealSink();
  sink.stat(manifestStat.size, manifestStat.mtimeMs, manifestStat.ctimeMs, manifestStat.ino);
  let newest = Math.max(manifestStat.mtimeMs, manifestStat.ctimeMs);
  // The seal takes the entries in the order of the walk: each folder's listing, a subfolder's
  // entries right after its own.
  for (let i = 0, d = 0; i < entries; i++) {
    for (; d < listing.folderEntries.length && listing.folderEntries[d] === i; d++)
      sink.entry(listing.folderRels[d]!, DIR);
    const at = i * STAT_FIELDS;
    const kind = stats[at]!;
    if (kind === GONE) return undefined;
    newest = Math.max(newest, stats[at + 2]!, stats[at + 3]!);
    let target = targets.get(i);
    if (kind === LINK && target === undefined) {
      try {
        target = readlinkSync(listing.path(i));
      } catch {
        return undefined; // replaced meanwhile: not a folder to seal
      }
    }
    sink.entry(listing.rel(i), kind === FILE ? FILE : target !== undefined ? LINK : OTHER);
    sink.stat(stats[at + 1]!, stats[at + 2]!, stats[at + 3]!, stats[at + 4]!);
    if (target !== undefined) sink.text(target);
  }
  for (let d = 0; d < listing.folderEntries.length; d++)
    if (listing.folderEntries[d]! >= entries) sink.entry(listing.folderRels[d]!, DIR);
  return { seal: sink.digest(), newest };
}

/** How many entries a walk sees between two yields to the event loop. */
const YIELD_EVERY = 2048;

/**
 * Every entry under a folder that is not a folder itself, in the order of a depth-first walk of
 * readdir's listings, and each subfolder with the index of the entry that follows it in that order.
 */
interface Listing {
  entries: number;
  rel(i: number): string;
  path(i: number): string;
  folderRels: string[];
  folderEntries: number[];
  forThread(): { folders: string[]; folderOf: Int32Array; names: string[] };
}

/** The listing of `dir`; undefined when a folder in it cannot be read. */
function listFolder(dir: string): Listing | undefined {
  const folders: string[] = [];
  const rels: string[] = [];
  const names: string[] = [];
  const folderOf: number[] = [];
  const folderRels: string[] = [];
  const folderEntries: number[] = [];
  const list = (rel: string, absolute: string): boolean => {
    let listed: Dirent[];
    try {
      listed = readdirSync(absolute, { withFileTypes: true });
    } catch {
      return false;
    }
    const index = folders.length;
    folders.push(absolute);
    rels.push(rel);
    for (const entry of listed) {
      if (entry.isDirectory()) {
        const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
        folderRels.push(childRel);
        folderEntries.push(names.length);
        if (!list(childRel, `${absolute}/${entry.name}`)) return false;
        continue;
      }
      names.push(entry.name);
      folderOf.push(index);
    }
    return true;
  };
  if (!list('', dir)) return undefined;
  return {
    entries: names.length,
    // NOTE: concatenation, not join: a listed name holds no "/".
    rel: (i) => {
      const rel = rels[folderOf[i]!]!;
      return rel === '' ? names[i]! : `${rel}/${names[i]}`;
    },
    path: (i) => `${folders[folderOf[i]!]}/${names[i]}`,
    folderRels,
    folderEntries,
    forThread: () => ({ folders, folderOf: Int32Array.from(folderOf), names }),
  };
}

/**
 * Feeds the hash through one buffer: a hash update per entry (two, with its numbers) costs more
 * than the lstat of a 1 KiB file.
 */
class SealSink {
  private readonly hash: Hash = createHash('sha256');
  private readonly buffer = Buffer.allocUnsafe(1 << 16);
  private at = 0;

  /** A name (or link target) ends with NUL, which no path holds; kinds and numbers have fixed widths. */
  entry(rel: string, kind: number): void {
    this.text(rel);
    this.room(1);
    this.buffer[this.at++] = kind;
  }

  text(value: string): void {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
    if (value.length * 3 + 1 > this.buffer.length) {
      this.flush();
      this.hash.update(value, 'utf8');
      this.hash.update('\0');
      return;
    }
    this.room(value.length * 3 + 1);
    this.at += this.buffer.write(value, this.at, 'utf8');
    this.buffer[this.at++] = 0;
  }

  stat(size: number, mtimeMs: number, ctimeMs: number, ino: number): void {
    this.room(32);
    this.at = this.buffer.writeDoubleLE(size, this.at);
    this.at = this.buffer.writeDoubleLE(mtimeMs, this.at);
    this.at = this.buffer.writeDoubleLE(ctimeMs, this.at);
    this.at = this.buffer.writeDoubleLE(ino, this.at);
  }

  digest(): string {
    this.flush();
    return this.hash.digest('hex');
  }

  private room(bytes: number): void {
    if (this.at + bytes > this.buffer.length) this.flush();
  }

  private flush(): void {
    if (this.at > 0) this.hash.update(this.buffer.subarray(0, this.at));
    this.at = 0;
  }
}
