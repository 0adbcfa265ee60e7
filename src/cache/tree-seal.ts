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
import { type Dirent, lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';

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
 * NOTE: lstat, not stat: a link put where a file was is a change, never followed.
 */
export async function walkTreeFolder(
  dir: string,
  manifestStat: Stats,
  visit?: EntryVisitor,
): Promise<FolderWalk | undefined> {
  const sink = new SealSink();
  sink.stat(manifestStat);
  let newest = Math.max(manifestStat.mtimeMs, manifestStat.ctimeMs);
  let seen = 0;
  const walk = async (rel: string, absolute: string): Promise<boolean> => {
    let entries: Dirent[];
    try {
      entries = readdirSync(absolute, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const entry of entries) {
      // Synchronous calls (a promise per lstat costs more than the lstat), with a yield now and
      // then so the other stages of a run are not held up.
      if (++seen % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const child = `${absolute}/${entry.name}`;
      if (entry.isDirectory()) {
        sink.entry(childRel, DIR);
        if (!(await walk(childRel, child))) return false;
        continue;
      }
      const stat = lstatSync(child, { throwIfNoEntry: false });
      if (!stat) return false; // removed meanwhile: not a folder to seal
      newest = Math.max(newest, stat.mtimeMs, stat.ctimeMs);
      const target = stat.isSymbolicLink() ? readlinkSync(child) : undefined;
      sink.entry(childRel, stat.isFile() ? FILE : target !== undefined ? LINK : OTHER);
      sink.stat(stat);
      if (target !== undefined) sink.text(target);
      visit?.(childRel, stat, target);
    }
    return true;
  };
  if (!(await walk('', dir))) return undefined;
  return { seal: sink.digest(), newest };
}

/** How many entries a walk sees between two yields to the event loop. */
const YIELD_EVERY = 2048;

const FILE = 1;
const DIR = 2;
const LINK = 3;
const OTHER = 4;

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

  stat(stat: Stats): void {
    this.room(32);
    this.at = this.buffer.writeDoubleLE(stat.size, this.at);
    this.at = this.buffer.writeDoubleLE(stat.mtimeMs, this.at);
    this.at = this.buffer.writeDoubleLE(stat.ctimeMs, this.at);
    this.at = this.buffer.writeDoubleLE(stat.ino, this.at);
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
