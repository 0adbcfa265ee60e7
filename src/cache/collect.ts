// Turns staged files into cache objects and a tree manifest, and digests project files (deps)
// the same way, so "a dep folder" and "an output folder" hash by one rule.
import { statSync } from 'node:fs';
import { copyFile, lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import { canonicalJson } from './canonical.ts';
import { hashBytes } from './hash.ts';
import type { CacheStore, TreeEntry, TreeManifest } from './store.ts';

/** Callback per regular file found under a root; returns the file's digest. */
type FileVisitor = (absolute: string, size: number, exec: boolean) => Promise<string>;

/**
 * Walks `paths` (relative to `root`; each a file or folder) and builds a manifest. Symlinks are
 * followed (their content counts); special files are refused.
 */
export async function walkTree(
  root: string,
  paths: readonly string[],
  visit: FileVisitor,
): Promise<TreeManifest> {
  const files: TreeEntry[] = [];
  const dirs: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const absolute = join(root, rel);
    const info = await stat(absolute);
    if (info.isDirectory()) {
      const names = (await readdir(absolute)).sort();
      if (names.length === 0) dirs.push(rel);
      for (const name of names) await walk(rel === '' ? name : posix.join(rel, name));
    } else if (info.isFile()) {
      const exec = (info.mode & 0o111) !== 0;
      const digest = await visit(absolute, info.size, exec);
      files.push(
        exec ? { path: rel, digest, size: info.size, exec: true } : { path: rel, digest, size: info.size },
      );
    } else {
      throw new Error(`"${rel}" is neither a file nor a folder`);
    }
  };
  for (const path of paths) await walk(path);
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  dirs.sort();
  return { format: 1, files, dirs };
}

/** Moves staged outputs into the store; returns the tree digest and totals. */
export async function storeOutputs(
  store: CacheStore,
  root: string,
  paths: readonly string[],
): Promise<{ tree: string; files: number; bytes: number }> {
  const rootReal = await realpath(root);
  const manifest = await walkTree(root, paths, async (absolute, size, exec) => {
    // Only a plain file the stage wrote itself may be moved into the store. Content reached through
    // a symlink (or a symlinked folder), or a hard link to a file elsewhere, belongs to someone else
    // (often the project's own data): copy it, so the original is never moved or made read-only.
    const link = await lstat(absolute);
    const real = await realpath(absolute);
    if (
      link.isSymbolicLink() ||
      link.nlink > 1 ||
      !real.startsWith(`${rootReal}/`) ||
      real !== resolve(absolute)
    ) {
      const copy = store.tmpName('copy');
      await copyFile(absolute, copy);
      return store.adoptFile(copy, size, exec);
    }
    return store.adoptFile(absolute, size, exec);
  });
  const tree = await store.putManifest(manifest);
  return { tree, files: manifest.files.length, bytes: manifest.files.reduce((n, f) => n + f.size, 0) };
}

/** Digest of a project path (file: its content digest; folder: the digest of its manifest). */
export async function digestProjectPath(store: CacheStore, absolute: string): Promise<string> {
  const info = statSync(absolute);
  if (info.isFile()) return store.statCache.digest(absolute, info);
  const manifest = await walkTree(absolute, [''], async (file) =>
    store.statCache.digest(file, await stat(file)),
  );
  return hashBytes(canonicalJson(manifest));
}
