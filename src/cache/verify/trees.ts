// Materialized trees: exactly the manifest's files, links and folders, each file the object's content.
import { lstatSync, opendirSync, readlinkSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { hashFile } from '../hash.ts';
import { DIGEST } from '../layout.ts';
import type { CacheStore } from '../store.ts';
import type { TreeEntry, TreeManifest } from '../tree-manifest.ts';
import type { Findings } from './findings.ts';
import { type ObjectStat, type ObjectStates, sortedEntries } from './objects.ts';

/** Checks every folder under trees/; returns how many were checked. */
export async function checkTrees(
  store: CacheStore,
  objects: ObjectStates,
  findings: Findings,
): Promise<number> {
  const root = store.layout.dir('trees');
  let trees = 0;
  for (const entry of sortedEntries(root)) {
    const dir = join(root, entry.name);
    const tree = entry.name;
    if (!entry.isDirectory() || !DIGEST.test(tree)) {
      findings.foreign('tree', dir, tree, 'is not a materialized tree (expected trees/<digest>/)');
      trees++;
      continue;
    }
    const bad = (path: string, reason: string) => findings.tree(dir, path, tree, reason);
    const manifest = await objects.manifestOf(tree);
    if (typeof manifest === 'string') {
      bad(dir, manifest);
      trees++;
      continue;
    }
    // Each file the walk finds is checked as it is found, against an index of the manifest (a map
    // of every file found, then checked, held 100,000 entries more).
    const unseen = new Map(manifest.files.map((file) => [file.path, file]));
    let found: Walked;
    try {
      found = await walk(dir, (rel, stat) => checkFile(dir, rel, stat, unseen, objects, bad));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed or rebuilt meanwhile
      bad(dir, `cannot be read (${(error as Error).message})`);
      trees++;
      continue;
    }
    trees++;
    for (const file of unseen.values()) bad(join(dir, file.path), `file "${file.path}" is missing`);
    checkLinksAndFolders(dir, manifest, found, bad);
  }
  return trees;
}

type Bad = (path: string, reason: string) => void;

/**
 * A file found in the tree: a file of the manifest (taken out of `unseen`) with its size and the
 * object's content (a hard link to it, or equal bytes), or an extra one. NOTE: a promise only
 * when it must wait (an object not hashed yet, a copy to hash): a tree's 100,000 links to known
 * objects are checked with no promise, no state object and no path made for each.
 */
function checkFile(
  dir: string,
  rel: string,
  stat: Stats,
  unseen: Map<string, TreeEntry>,
  objects: ObjectStates,
  bad: Bad,
): Promise<void> | undefined {
  const file = unseen.get(rel);
  if (!file) {
    // rel was found on disk by walk(): a relative path of plain names, so no join is needed.
    bad(`${dir}/${rel}`, `extra file "${rel}" (not in the manifest)`);
    return;
  }
  unseen.delete(rel);
  if (stat.size !== file.size) {
    bad(`${dir}/${rel}`, `file "${file.path}" has ${stat.size} bytes, the manifest says ${file.size}`);
    return;
  }
  const state = objects.peek(file.digest, scratch);
  if (state === undefined)
    return objects.stateOf(file.digest).then((found) => {
      const linked = found.state !== 'missing' && sameInode(found.stat, stat);
      return checkLinkOrCopy(dir, file, stat, found.state, linked, bad);
    });
  const linked = state !== 'missing' && sameInode(scratch, stat);
  return checkLinkOrCopy(dir, file, stat, state, linked, bad);
}

/** Where `peek` copies an object's stat: one record for every file (read right away). */
const scratch: ObjectStat = { size: 0, ino: 0, dev: 0, mtimeMs: 0, ctimeMs: 0 };

function sameInode(object: ObjectStat, stat: Stats): boolean {
  return object.ino === stat.ino && object.dev === stat.dev;
}

/** The file is the object's inode (fine unless the object is corrupt), or a copy checked by its content. */
function checkLinkOrCopy(
  dir: string,
  file: TreeEntry,
  stat: Stats,
  state: 'ok' | 'corrupt' | 'missing',
  linked: boolean,
  bad: Bad,
): Promise<void> | undefined {
  const path = `${dir}/${file.path}`;
  if (linked) {
    if (state === 'corrupt') bad(path, `file "${file.path}" is a link to corrupt object ${file.digest}`);
    return;
  }
  // A copy (no hard links here) or a link to an object since replaced: check its content itself.
  return hashFile(path, stat.size).then(
    (actual) => {
      if (actual !== file.digest)
        bad(path, `file "${file.path}" is corrupt: its content hashes to ${actual}, not ${file.digest}`);
    },
    (error) => bad(path, `file "${file.path}" cannot be read (${(error as Error).message})`),
  );
}

/** Links as the manifest says, folders it implies, and nothing else (what checkFiles did not claim). */
function checkLinksAndFolders(dir: string, manifest: TreeManifest, found: Walked, bad: Bad): void {
  const wanted = new Set<string>();
  // Manifest paths are validated (relative, normalised), so each walk up ends at "."; the
  // `parent !== d` test stops it even so.
  for (const rel of [
    ...manifest.dirs,
    ...[...manifest.files, ...(manifest.links ?? [])].map((f) => posix.dirname(f.path)),
  ])
    for (let d = rel; d !== '.' && d !== '' && posix.dirname(d) !== d; d = posix.dirname(d)) wanted.add(d);
  for (const link of manifest.links ?? []) {
    const target = found.links.get(link.path);
    found.links.delete(link.path);
    if (target !== link.target)
      bad(
        join(dir, link.path),
        target === undefined
          ? `link "${link.path}" is missing`
          : `link "${link.path}" points at "${target}", the manifest says "${link.target}"`,
      );
  }
  for (const rel of found.links.keys()) bad(join(dir, rel), `extra link "${rel}" (not in the manifest)`);
  for (const rel of found.others) bad(join(dir, rel), `"${rel}" is neither a file nor a folder`);
  for (const rel of found.dirs)
    if (!wanted.has(rel)) bad(join(dir, rel), `extra folder "${rel}" (not in the manifest)`);
  for (const rel of manifest.dirs)
    if (rel !== '' && !found.dirs.has(rel)) bad(join(dir, rel), `folder "${rel}" is missing`);
}

interface Walked {
  dirs: Set<string>;
  links: Map<string, string>;
  others: string[];
}

/**
 * The folders, links and other entries under a tree folder, by relative POSIX path; each file is
 * handed to `onFile` with its lstat as it is found, and not kept.
 */
async function walk(
  root: string,
  onFile: (rel: string, stat: Stats) => Promise<void> | undefined,
): Promise<Walked> {
  const found: Walked = { dirs: new Set(), links: new Map(), others: [] };
  const visit = async (rel: string) => {
    // NOTE: entry by entry (opendir), not readdir's array: a folder of 100,000 files is 100,000
    // entries held at once.
    const folder = opendirSync(rel === '' ? root : join(root, rel));
    try {
      for (let entry = folder.readSync(); entry !== null; entry = folder.readSync()) {
        // A listed name holds no separator: paths are concatenated (as checkFile's), not joined.
        const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
        if (entry.isDirectory()) {
          found.dirs.add(child);
          await visit(child);
        } else if (entry.isFile()) {
          const pending = onFile(child, lstatSync(`${root}/${child}`));
          if (pending) await pending;
        } else if (entry.isSymbolicLink()) found.links.set(child, readlinkSync(`${root}/${child}`));
        else found.others.push(child);
      }
    } finally {
      folder.closeSync();
    }
  };
  await visit('');
  return found;
}
