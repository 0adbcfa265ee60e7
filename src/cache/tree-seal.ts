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
import { readdirSync, readlinkSync, type Stats } from 'node:fs';
import { yieldToEventLoop } from '../util/yield.ts';
import {
  DIR,
  FAILED,
  GONE,
  LINK,
  lstatInto,
  lstatShared,
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
 * a folder, or changed during the walk). `manifestStat`, the stat of the tree's manifest object,
 * is part of the seal. `visit`, when given, sees every file and link (the check that decides
 * whether to seal uses it). Without it (a sealed folder checked again) the lstat of each entry is
 * shared with the tree thread (tree-thread.ts).
 *
 * The folder is walked a level at a time: every folder of a level listed (names only), then every
 * entry's lstat, and the folders among them make the next level. Each level goes into the seal in
 * bulk: how many entries, each one's folder (an index), the names, then every entry's lstat
 * numbers (kind, size, mtime, ctime, inode, mode, links) as they are in memory, then the links'
 * targets. NOTE: in bulk, because per entry (a path, a Dirent and a hash write each) the seal cost
 * the main thread as much as its share of the lstat calls. NOTE: lstat, not stat: a link put where
 * a file was is a change, never followed.
 */
export async function walkTreeFolder(
  dir: string,
  manifestStat: Stats,
  visit?: EntryVisitor,
): Promise<FolderWalk | undefined> {
  // Only big trees are sealed, so the thread will be used: it starts while the folder is listed.
  if (!visit) warmTreeThread();
  const sink = createHash('sha256');
  sink.update(
    new Float64Array([manifestStat.size, manifestStat.mtimeMs, manifestStat.ctimeMs, manifestStat.ino]),
  );
  let newest = Math.max(manifestStat.mtimeMs, manifestStat.ctimeMs);
  const folders = [dir];
  /** Each folder's path relative to `dir` (only a visit needs them). */
  const rels = [''];
  for (let level = [0]; level.length > 0; ) {
    const listed = listLevel(folders, level);
    if (!listed) return undefined; // a folder gone, or no longer a folder
    const { names, folderOf } = listed;
    const path = (i: number) => `${folders[folderOf[i]!]}/${names[i]}`;
    const rel = (i: number) => (rels[folderOf[i]!] === '' ? names[i]! : `${rels[folderOf[i]!]}/${names[i]}`);
    const targets = new Map<number, string>();
    const stats = visit
      ? await lstatVisiting(names.length, path, (i, stat, target) => {
          if (target !== undefined) targets.set(i, target);
          visit(rel(i), stat, target);
        })
      : await lstatShared(folders, folderOf, names);
    if (!stats) return undefined; // an entry removed meanwhile: not a folder to seal
    const next: number[] = [];
    for (let i = 0; i < names.length; i++) {
      const at = i * STAT_FIELDS;
      const kind = stats[at];
      // Removed meanwhile, or unreadable: not a folder to seal.
      if (kind === GONE || kind === FAILED) return undefined;
      newest = Math.max(newest, stats[at + 2]!, stats[at + 3]!);
      if (kind === DIR) {
        next.push(folders.push(path(i)) - 1);
        if (visit) rels.push(rel(i));
      } else if (kind === LINK && !targets.has(i)) {
        try {
          targets.set(i, readlinkSync(path(i)));
        } catch {
          return undefined; // replaced meanwhile: not a folder to seal
        }
      }
    }
    sink.update(new Float64Array([names.length]));
    sink.update(folderOf);
    // A name holds neither NUL nor "/": joined by NUL, the names of a level read back one way.
    sink.update(`${names.join('\0')}\0`, 'utf8');
    sink.update(stats.subarray(0, names.length * STAT_FIELDS));
    sealTargets(sink, targets);
    level = next;
  }
  return { seal: sink.digest('hex'), newest };
}

/** The names in a level's folders, each with its folder's index; undefined when one cannot be listed. */
function listLevel(
  folders: readonly string[],
  level: readonly number[],
): { names: string[]; folderOf: Int32Array } | undefined {
  const names: string[] = [];
  const inFolder: number[] = [];
  for (const folder of level) {
    let listed: string[];
    try {
      listed = readdirSync(folders[folder]!);
    } catch {
      return undefined;
    }
    for (const name of listed) {
      names.push(name);
      inFolder.push(folder);
    }
  }
  return { names, folderOf: Int32Array.from(inFolder) };
}

/**
 * The lstat numbers of a level's `count` entries, taken here (not shared with the tree thread),
 * each file and link handed to `visit`; undefined when an entry was removed meanwhile.
 */
async function lstatVisiting(
  count: number,
  path: (i: number) => string,
  visit: (i: number, stat: Stats, target: string | undefined) => void,
): Promise<Float64Array | undefined> {
  const stats = new Float64Array(Math.max(1, count) * STAT_FIELDS);
  for (let i = 0; i < count; i++) {
    // Synchronous calls (a promise per lstat costs more than the lstat), with a yield now and
    // then so the other stages of a run are not held up.
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
    const stat = lstatInto(stats, i, path(i));
    if (!stat) return undefined;
    if (stat.isDirectory()) continue;
    visit(i, stat, stat.isSymbolicLink() ? readlinkSync(path(i)) : undefined);
  }
  return stats;
}

/** Each link's index in its level, and its target (NUL-terminated), in index order. */
function sealTargets(sink: Hash, targets: Map<number, string>): void {
  sink.update(new Float64Array([targets.size]));
  for (const i of [...targets.keys()].sort((a, b) => a - b)) {
    sink.update(new Float64Array([i]));
    sink.update(`${targets.get(i)}\0`, 'utf8');
  }
}

/** How many entries a walk sees between two yields to the event loop. */
const YIELD_EVERY = 2048;
