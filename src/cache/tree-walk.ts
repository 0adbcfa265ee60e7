// Walks a folder (an output a stage wrote, or a dep) into a tree manifest: every file, empty folder
// and link by relative POSIX path, with the rules for what may be in one (links, special files,
// names that are not UTF-8). tree-snapshot.ts stores what it finds; key.ts digests deps with it.
import { lstatSync, readdirSync, readlinkSync, realpathSync, type Stats, statSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { yieldToEventLoop } from '../util/yield.ts';
import type { SignedStat } from './store.ts';
import { linkProblem, type TreeLink } from './tree-links.ts';
import type { TreeEntry, TreeManifest } from './tree-manifest.ts';
import { FILE, lstatShared, SHARE_MIN, STAT_FIELDS } from './tree-thread.ts';

/** Callback per regular file found under a root; returns its digest (`borrowed`: reached through a link). */
export type FileVisitor = (absolute: string, stat: Stats, borrowed?: boolean) => Promise<string>;

/**
 * A file whose digest is filled in after the walk: its manifest entry, path, and what is needed of
 * its lstat. NOTE: not the Stats (with its four Dates): held for 100,000 files until the walk ends,
 * they tripled the garbage collector's time.
 */
export interface DeferredFile {
  entry: TreeEntry;
  /** Its folder (absolute; one string shared by the folder's files) and its name there. */
  folder: string;
  name: string;
  stat: SignedStat;
  exec: boolean;
}

/** One entry of a walked tree that cannot be taken as it is; the caller says whose tree it is. */
export class TreeEntryError extends Error {
  constructor(
    /** Relative path of the entry (bytes that are not UTF-8 shown as \ufffd). */
    readonly path: string,
    /** What is wrong, as the end of a sentence: `"x" ${problem}`. */
    readonly problem: string,
    cause?: unknown,
  ) {
    super(`${JSON.stringify(path)} ${problem}`, cause === undefined ? undefined : { cause });
    this.name = 'TreeEntryError';
  }
}

/**
 * Walks `paths` (relative to `root`; each a file or folder) and builds a manifest. With
 * `links: 'follow'` (project deps) a symlink counts as what it points at; with `'keep'` (outputs) a
 * link is recorded as a link when it stays inside the path it was found under, and refused
 * otherwise, so nothing outside an output is ever read into the cache. Special files and names that
 * are not UTF-8 are refused.
 */
export async function walkTree(
  root: string,
  paths: readonly string[],
  visit: FileVisitor,
  options: WalkOptions,
): Promise<TreeManifest> {
  const walk = new TreeWalk(root, visit, options);
  for (const path of paths) await walk.entry(path, join(root, path), path);
  return walk.manifest();
}

interface WalkOptions {
  links: 'follow' | 'keep';
  onFolder?: (info: Stats) => void;
  /**
   * Given, each file found in place with no other hard link is not visited but listed here, its
   * digest left for the caller to fill in once the walk is done.
   */
  deferred?: DeferredFile[];
}

/** One walk of walkTree: what it found so far, and how it takes each kind of entry. */
class TreeWalk {
  private readonly files: TreeEntry[] = [];
  private readonly dirs: string[] = [];
  private readonly links: TreeLink[] = [];
  /** Real paths of the folders being walked (links followed): a link back to one is a loop. */
  private readonly ancestors = new Set<string>();
  private entries = 0;

  constructor(
    private readonly root: string,
    private readonly visit: FileVisitor,
    private readonly options: WalkOptions,
  ) {}

  /** The manifest of what was walked, in path order. */
  manifest(): TreeManifest {
    const byPath = (a: { path: string }, b: { path: string }) =>
      a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
    this.files.sort(byPath);
    this.dirs.sort();
    // NOTE: `links` only when there are some, so trees without links keep their digests.
    if (this.links.length === 0) return { format: 1, files: this.files, dirs: this.dirs };
    return { format: 1, files: this.files, dirs: this.dirs, links: this.links.sort(byPath) };
  }

  /** Walks the entry at `rel` (under the declared path `scope`). */
  async entry(rel: string, absolute: string, scope: string): Promise<void> {
    // NOTE: the walk uses the synchronous calls: an output of 100,000 small files spent most of its
    // time waiting for each promise's round trip through libuv's thread pool (about 10x the call
    // itself on a busy 2-core machine). It yields to the event loop now and then, so the other
    // stages of a run (their logs, their exits) are not held up for long.
    await this.counted();
    const info = this.options.links === 'follow' ? statEntry(absolute, rel) : lstatEntry(absolute, rel);
    if (info.isSymbolicLink() && rel === scope) await this.declaredLink(rel, absolute);
    else if (info.isSymbolicLink()) {
      const target = readlinkSync(absolute);
      const problem = linkProblem(this.root, scope, rel, target);
      if (problem) throw new TreeEntryError(rel, `is a symbolic link that ${problem}`);
      this.links.push({ path: rel, target });
    } else if (info.isDirectory()) await this.folder(rel, absolute, scope, info);
    else if (info.isFile()) await this.file(rel, absolute, info, false);
    else throw new TreeEntryError(rel, `is ${specialKind(info)}, not a file or folder`);
  }

  /**
   * A declared out that is itself a link to a file (`ln -s data/x out.bin`) is stored as that
   * file's content, copied. A link to a folder is refused: it could name /etc, or /.
   */
  private async declaredLink(rel: string, absolute: string): Promise<void> {
    const target = readlinkSync(absolute);
    const pointed = statSync(absolute, { throwIfNoEntry: false });
    if (!pointed?.isFile())
      throw new TreeEntryError(
        rel,
        `is a symbolic link (to "${target}") to ${pointed?.isDirectory() ? 'a folder' : 'nothing readable'}; an out must be a file or folder the command wrote`,
      );
    await this.file(rel, absolute, pointed, true);
  }

  private async folder(rel: string, absolute: string, scope: string, info: Stats): Promise<void> {
    const follow = this.options.links === 'follow';
    if (follow) {
      // A link back to a folder that contains it would be walked until the path is too long.
      const real = realpathSync.native(absolute);
      if (this.ancestors.has(real))
        throw new TreeEntryError(rel, 'is a symbolic link to a folder that contains it (a loop)');
      this.ancestors.add(real);
    }
    this.options.onFolder?.(info);
    const names = readNames(absolute, rel);
    if (names.length === 0) this.dirs.push(rel);
    // NOTE: concatenation, not join: a name read from a folder has no "/" and is never "." or
    // "..", so there is nothing to normalise, and join cost more than the lstat of a small file.
    // A big folder of an output: the lstat of its entries shared with the tree thread first, and
    // each file with no other link deferred from those numbers (no Stats of its own); the rest
    // (folders, links, anything else) walked as usual.
    const pre =
      this.options.deferred && names.length >= SHARE_MIN
        ? await lstatShared([absolute], new Int32Array(names.length), names)
        : undefined;
    for (let i = 0; i < names.length; i++) {
      const childRel = rel === '' ? names[i]! : `${rel}/${names[i]}`;
      const at = i * STAT_FIELDS;
      if (pre && pre[at] === FILE && pre[at + 6] === 1) {
        await this.counted();
        const stat = { size: pre[at + 1]!, mtimeMs: pre[at + 2]!, ino: pre[at + 4]!, mode: pre[at + 5]! };
        this.defer(childRel, absolute, names[i]!, stat);
      } else await this.entry(childRel, `${absolute}/${names[i]}`, scope);
    }
    if (follow) this.ancestors.delete(realpathSync.native(absolute));
  }

  private async file(rel: string, absolute: string, stat: Stats, borrowed: boolean): Promise<void> {
    if (this.options.deferred && !borrowed && stat.nlink === 1)
      this.defer(rel, dirname(absolute), basename(absolute), stat);
    else this.files.push(fileEntry(rel, await this.visit(absolute, stat, borrowed), stat.size, stat.mode));
  }

  private defer(
    rel: string,
    folder: string,
    name: string,
    stat: { size: number; mtimeMs: number; ino: number; mode: number },
  ): void {
    const entry = fileEntry(rel, '', stat.size, stat.mode);
    this.files.push(entry);
    const signed = { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino };
    this.options.deferred!.push({ entry, folder, name, stat: signed, exec: entry.exec === true });
  }

  /** Counts an entry, yielding to the event loop every YIELD_EVERY of them. */
  private async counted(): Promise<void> {
    if (++this.entries % YIELD_EVERY === 0) await yieldToEventLoop();
  }
}

function fileEntry(rel: string, digest: string, size: number, mode: number): TreeEntry {
  return (mode & 0o111) !== 0 ? { path: rel, digest, size, exec: true } : { path: rel, digest, size };
}

/** How many entries a walk visits between two yields to the event loop. */
const YIELD_EVERY = 512;

function statEntry(absolute: string, rel: string): Stats {
  try {
    return statSync(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const link = lstatSync(absolute, { throwIfNoEntry: false });
    if (link?.isSymbolicLink()) {
      let target = '?';
      try {
        target = readlinkSync(absolute);
      } catch {
        // gone meanwhile: the message still says what it was
      }
      const why = code === 'ELOOP' ? 'a symbolic link loop' : 'a broken symbolic link';
      throw new TreeEntryError(rel, `is ${why} (to "${target}")`, error);
    }
    throw new TreeEntryError(rel, describeErrno(error), error);
  }
}

function lstatEntry(absolute: string, rel: string): Stats {
  try {
    return lstatSync(absolute);
  } catch (error) {
    throw new TreeEntryError(rel, describeErrno(error), error);
  }
}

/** A folder's entry names, sorted; a name that is not valid UTF-8 cannot be named in a manifest. */
function readNames(absolute: string, rel: string): string[] {
  let names: string[];
  try {
    names = readdirSync(absolute);
  } catch (error) {
    throw new TreeEntryError(rel, describeErrno(error), error);
  }
  // NOTE: names as text, and as bytes only where one may not be UTF-8 (decoding put U+FFFD in it):
  // a buffer per name of a folder of 100,000 files cost more than reading the folder.
  if (names.some((name) => name.includes('\ufffd'))) checkUtf8Names(absolute, rel);
  return names.sort();
}

/** Throws for the first name in the folder that is not valid UTF-8. */
function checkUtf8Names(absolute: string, rel: string): void {
  let raw: Buffer[];
  try {
    raw = readdirSync(absolute, { encoding: 'buffer' });
  } catch (error) {
    throw new TreeEntryError(rel, describeErrno(error), error);
  }
  for (const bytes of raw) {
    const name = bytes.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(bytes)) {
      const shown = rel === '' ? name : posix.join(rel, name);
      throw new TreeEntryError(shown, 'has a name that is not valid UTF-8 (rename it)');
    }
  }
}

function describeErrno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'disappeared while it was being read';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read (permission denied)';
  return `cannot be read (${(error as Error).message})`;
}

function specialKind(info: Stats): string {
  if (info.isFIFO()) return 'a named pipe (FIFO)';
  if (info.isSocket()) return 'a socket';
  if (info.isBlockDevice() || info.isCharacterDevice()) return 'a device file';
  return 'a special file';
}
