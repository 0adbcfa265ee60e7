// Turns staged files into cache objects and a tree manifest, and digests project files (deps)
// the same way, so "a dep folder" and "an output folder" hash by one rule (tree-walk.ts walks both).
import { realpathSync, statSync } from 'node:fs';
import { copyFile, realpath } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import { EXIT_STAGE_FAILED, PipeError } from '../errors.ts';
import { canonicalJson } from './canonical.ts';
import { hashBytes } from './hash.ts';
import type { CacheStore } from './store.ts';
import type { TreeManifest } from './tree-manifest.ts';
import { ADOPT_RESULT, ADOPTED, ADOPTED_HERE, SHARE_MIN, shareWork } from './tree-thread.ts';
import { type DeferredFile, TreeEntryError, walkTree } from './tree-walk.ts';

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
