// Turns staged files into cache objects and a tree manifest, and digests project files (deps)
// the same way, so "a dep folder" and "an output folder" hash by one rule.
import { lstatSync, readdirSync, readlinkSync, realpathSync, type Stats, statSync } from 'node:fs';
import { copyFile, realpath } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { EXIT_STAGE_FAILED, PipeError } from '../errors.ts';
import { canonicalJson } from './canonical.ts';
import { hashBytes } from './hash.ts';
import type { CacheStore, SignedStat } from './store.ts';
import { linkProblem, type TreeLink } from './tree-links.ts';
import type { TreeEntry, TreeManifest } from './tree-manifest.ts';
import {
  ADOPT_RESULT,
  ADOPTED,
  ADOPTED_HERE,
  FILE,
  lstatShared,
  SHARE_MIN,
  STAT_FIELDS,
  shareWork,
} from './tree-thread.ts';

/** Callback per regular file found under a root; returns its digest (`borrowed`: reached through a link). */
type FileVisitor = (absolute: string, stat: Stats, borrowed?: boolean) => Promise<string>;

/**
 * A file whose digest is filled in after the walk: its manifest entry, path, and what is needed of
 * its lstat. NOTE: not the Stats (with its four Dates): held for 100,000 files until the walk ends,
 * they tripled the garbage collector's time.
 */
interface DeferredFile {
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
    if (++this.entries % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
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

/**
 * Moves staged outputs into the store; returns the tree digest and totals. A problem with what the
 * stage wrote (a link leading out, a FIFO, an out reached through a link) fails it as
 * E_STAGE_OUTPUT naming the path; nothing is recorded.
 */
export async function storeOutputs(
  store: CacheStore,
  root: string,
  paths: readonly string[],
  stage: string,
): Promise<{ tree: string; files: number; bytes: number }> {
  // NOTE: synchronous: a few readlink calls, where a promise is a round trip through the thread pool.
  const rootReal = realpathSync.native(root);
  for (const path of paths) {
    // An out inside a folder that is a link (a dep folder linked in) would be someone else's file.
    const parent = posix.dirname(path);
    if (parent === '.') continue;
    const parentReal = await realpath(join(root, parent)).catch(() => undefined);
    if (path !== '' && parentReal !== resolve(rootReal, parent))
      throw outputError(stage, new TreeEntryError(path, 'lies in a folder that is a link to another place'));
  }
  // Each file is stored where it is, as a hard link to its object, so that the outs, moved as they
  // are, become the tree's folder (adoptTree). A folder the owner cannot write or enter (a command
  // ran chmod on it) would be a tree gc cannot remove: then the tree is built from the objects.
  let adoptable = true;
  let manifest: TreeManifest;
  // The stage's own files (one link each) are stored once the walk is done, all together: so a
  // refused output is left as it was, and a big one is hashed and linked on two threads.
  const deferred: DeferredFile[] = [];
  try {
    manifest = await walkTree(
      root,
      paths,
      // Visited: a file with other hard links, which may be the project's own data (`ln data/x
      // out/x`), and one reached through a link, which is someone else's. Each is copied, so the
      // original is never moved or made read-only; its name here (not the original) is then
      // replaced by the object. Files with one link are deferred (stored by adoptFiles).
      async (absolute, info) => {
        const copy = store.tmpName('copy');
        await copyFile(absolute, copy);
        const digest = await store.adoptFile(copy, info.size, (info.mode & 0o111) !== 0);
        if (adoptable && !store.replaceWithObject(absolute, digest)) adoptable = false;
        return digest;
      },
      {
        links: 'keep',
        onFolder: (info) => {
          if ((info.mode & 0o700) !== 0o700) adoptable = false;
        },
        deferred,
      },
    );
  } catch (error) {
    if (error instanceof TreeEntryError) throw outputError(stage, error);
    throw error;
  }
  await adoptFiles(store, deferred);
  const tree = await store.putManifest(manifest);
  if (adoptable) await store.adoptTree(tree, root, paths);
  return { tree, files: manifest.files.length, bytes: manifest.files.reduce((n, f) => n + f.size, 0) };
}

/**
 * Stores each file as an object, leaving it where it is as a hard link to it (adoptInPlace), and
 * fills in its digest; a big output's files are shared with the tree thread (tree-thread.ts),
 * which does the usual case (hash, make read-only, link) and leaves the rest to adoptInPlace.
 */
async function adoptFiles(store: CacheStore, files: readonly DeferredFile[]): Promise<void> {
  const results = new Uint8Array(new SharedArrayBuffer(Math.max(1, files.length) * ADOPT_RESULT));
  const job = {
    kind: 'adopt' as const,
    cache: store.root,
    ...(files.length >= SHARE_MIN
      ? threadPaths(files)
      : { folders: [], folderOf: new Int32Array(0), names: '' }),
    sizes: Float64Array.from(files, (file) => file.stat.size),
    exec: Uint8Array.from(files, (file) => (file.exec ? 1 : 0)),
    results,
  };
  await shareWork(
    job,
    files.length,
    async (from, to) => {
      for (let i = from; i < to; i++) {
        const { entry, folder, name, stat, exec } = files[i]!;
        entry.digest = await store.adoptInPlace(`${folder}/${name}`, stat.size, exec, stat);
        results[i * ADOPT_RESULT] = ADOPTED_HERE;
      }
    },
    (i) => results[i * ADOPT_RESULT] === ADOPTED || results[i * ADOPT_RESULT] === ADOPTED_HERE,
  );
  for (let i = 0; i < files.length; i++) {
    const at = i * ADOPT_RESULT;
    if (results[at] !== ADOPTED) continue;
    const file = files[i]!;
    file.entry.digest = Buffer.from(results.subarray(at + 1, at + ADOPT_RESULT)).toString('hex');
    store.adoptedElsewhere(file.entry.digest, file.stat);
  }
}

/** The files' paths as the tree thread takes them: folders, each file's folder, names joined by NUL. */
function threadPaths(files: readonly DeferredFile[]): {
  folders: string[];
  folderOf: Int32Array;
  names: string;
} {
  const folders: string[] = [];
  const index = new Map<string, number>();
  const folderOf = new Int32Array(files.length);
  for (let i = 0; i < files.length; i++) {
    const folder = files[i]!.folder;
    let at = index.get(folder);
    if (at === undefined) {
      at = folders.push(folder) - 1;
      index.set(folder, at);
    }
    folderOf[i] = at;
  }
  return { folders, folderOf, names: files.map((file) => file.name).join('\0') };
}

function outputError(stage: string, error: TreeEntryError): PipeError {
  return new PipeError(`stage "${stage}": its output ${error.message}`, {
    code: 'E_STAGE_OUTPUT',
    stage,
    hint: 'an output may hold files, folders and links that stay inside it; write copies (cp -L) instead of links to other places',
    exitCode: EXIT_STAGE_FAILED,
    cause: error,
  });
}

/** Digest of a project path (file: its content digest; folder: the digest of its manifest). */
export async function digestProjectPath(store: CacheStore, absolute: string): Promise<string> {
  const info = statSync(absolute);
  if (info.isFile()) return store.statCache.digest(absolute, info);
  const manifest = await walkTree(absolute, [''], (file, stat) => store.statCache.digest(file, stat), {
    links: 'follow',
  });
  return hashBytes(canonicalJson(manifest));
}
