// `verify`: rehash every object, check every run record and every materialized tree, and with
// `repair` put things right: corrupt objects are moved to quarantine/, broken trees and the run
// records that depend on a corrupt or missing object are deleted (the next `run` recomputes them).
import {
  type Dirent,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  type Stats,
} from 'node:fs';
import { join, posix } from 'node:path';
import { hashFile } from './hash.ts';
import { DIGEST } from './layout.ts';
import { dropRefStages, listRefFiles, refId } from './refs.ts';
import type { CacheStore, TreeManifest } from './store.ts';
import { parseManifest, recordProblem } from './validate.ts';

export type ProblemKind = 'object' | 'record' | 'tree' | 'ref';

export interface VerifyProblem {
  kind: ProblemKind;
  /** The file or folder concerned (absolute). */
  path: string;
  /** The object digest concerned (for a tree: the tree's digest); null when there is none. */
  digest: string | null;
  reason: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Objects hashed, run records read, trees checked, and the bytes of the objects hashed. */
  objects: number;
  records: number;
  trees: number;
  bytes: number;
  problems: VerifyProblem[];
  repaired: { quarantined: number; records: number; trees: number; refs: number };
}

export interface VerifyProgress {
  objects: number;
  totalObjects: number;
  bytes: number;
  totalBytes: number;
}

export interface VerifyOptions {
  repair: boolean;
  onProgress?: (progress: VerifyProgress) => void;
}

type ObjectState =
  | { state: 'ok'; stat: Stats }
  | { state: 'corrupt'; stat: Stats; reason: string }
  | { state: 'missing' };

export async function verifyCache(store: CacheStore, options: VerifyOptions): Promise<VerifyReport> {
  const { layout } = store;
  const problems: VerifyProblem[] = [];
  const objects = new Map<string, ObjectState>();
  /** Entries of objects/ to move to quarantine/ (corrupt objects, and files that are no object). */
  const quarantine = new Map<string, string>();
  const badRecords = new Set<string>();
  const badTrees = new Set<string>();
  let hashedBytes = 0;

  // ---- objects: every file under objects/ must hash to its name
  const listed: { path: string; name: string; stat: Stats }[] = [];
  for (const entry of entries(layout.dir('objects'))) {
    const path = join(layout.dir('objects'), entry.name);
    if (!(entry.isDirectory() && /^[0-9a-f]{2}$/.test(entry.name))) {
      problems.push({
        kind: 'object',
        path,
        digest: null,
        reason: 'is not an object (objects/ holds only ab/ folders)',
      });
      quarantine.set(path, entry.name);
      continue;
    }
    for (const inner of entries(path)) {
      const file = join(path, inner.name);
      const stat = lstatOrUndefined(file);
      if (!stat) continue; // removed meanwhile (gc)
      if (!DIGEST.test(inner.name) || !stat.isFile()) {
        problems.push({
          kind: 'object',
          path: file,
          digest: null,
          reason: 'is not an object (not a file named by a digest)',
        });
        quarantine.set(file, inner.name);
      } else if (inner.name.slice(0, 2) !== entry.name) {
        problems.push({
          kind: 'object',
          path: file,
          digest: inner.name,
          reason: `is in the wrong folder (objects/${entry.name}/)`,
        });
        quarantine.set(file, inner.name);
      } else listed.push({ path: file, name: inner.name, stat });
    }
  }
  const totalBytes = listed.reduce((n, o) => n + o.stat.size, 0);
  let done = 0;
  const hashObject = async (digest: string, path: string, stat: Stats): Promise<ObjectState> => {
    let state: ObjectState;
    try {
      const actual = await hashFile(path, stat.size);
      // What verify learned is what `run` trusts next: an object verified at this stat is not
      // rehashed, and one found corrupt is not served even if an earlier check had passed it.
      store.statCache.remember(path, stat, actual);
      state =
        actual === digest
          ? { state: 'ok', stat }
          : { state: 'corrupt', stat, reason: `its content hashes to ${actual}` };
    } catch (error) {
      state = { state: 'corrupt', stat, reason: `cannot be read (${(error as Error).message})` };
    }
    hashedBytes += stat.size;
    done++;
    if (state.state === 'corrupt') {
      problems.push({ kind: 'object', path, digest, reason: `is corrupt: ${state.reason}` });
      quarantine.set(path, digest);
    }
    objects.set(digest, state);
    return state;
  };
  for (const { path, name, stat } of listed) {
    await hashObject(name, path, stat);
    options.onProgress?.({ objects: done, totalObjects: listed.length, bytes: hashedBytes, totalBytes });
  }
  /** An object's state; one that appeared since the listing (a concurrent run) is hashed now. */
  const objectState = async (digest: string): Promise<ObjectState> => {
    const known = objects.get(digest);
    if (known) return known;
    const path = layout.object(digest);
    const stat = DIGEST.test(digest) ? lstatOrUndefined(path) : undefined;
    if (!stat?.isFile()) {
      const missing: ObjectState = { state: 'missing' };
      objects.set(digest, missing);
      return missing;
    }
    return hashObject(digest, path, stat);
  };
  const manifests = new Map<string, TreeManifest | string>();
  /** A tree's manifest, or why it cannot be used. */
  const manifestOf = async (tree: string): Promise<TreeManifest | string> => {
    const cached = manifests.get(tree);
    if (cached !== undefined) return cached;
    const state = await objectState(tree);
    let result: TreeManifest | string;
    if (state.state === 'missing') result = `its manifest object ${tree} is missing`;
    else if (state.state === 'corrupt') result = `its manifest object ${tree} is corrupt`;
    else {
      try {
        result = parseManifest(readFileSync(layout.object(tree), 'utf8'));
      } catch (error) {
        result = `its manifest object ${tree} is not a valid manifest (${(error as Error).message})`;
      }
    }
    manifests.set(tree, result);
    return result;
  };

  // ---- run records: readable, complete, and every object of their output tree intact
  let records = 0;
  for (const entry of entries(layout.dir('actions'))) {
    const dir = join(layout.dir('actions'), entry.name);
    const files = entry.isDirectory() ? entries(dir).map((e) => join(dir, e.name)) : [dir];
    for (const path of files) {
      records++;
      const name = path.slice(path.lastIndexOf('/') + 1);
      const bad = (digest: string | null, reason: string) => {
        problems.push({ kind: 'record', path, digest, reason });
        badRecords.add(path);
      };
      const key = name.replace(/\.json$/, '');
      if (!(name.endsWith('.json') && DIGEST.test(key) && entry.name === key.slice(0, 2))) {
        // Not a name the store makes: moved aside by --repair, never deleted.
        problems.push({
          kind: 'record',
          path,
          digest: null,
          reason: 'is not a run record (expected actions/ab/<key>.json)',
        });
        quarantine.set(path, name);
        continue;
      }
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(readFileSync(path, 'utf8'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          records--; // removed meanwhile (gc)
          continue;
        }
        bad(null, `is not valid JSON (${(error as Error).message})`);
        continue;
      }
      const fieldProblem = recordProblem(record, key);
      if (fieldProblem) {
        bad(null, fieldProblem);
        continue;
      }
      const output = record.output as { tree: string; files: number; bytes: number };
      const manifest = await manifestOf(output.tree);
      if (typeof manifest === 'string') {
        bad(output.tree, `output tree: ${manifest}`);
        continue;
      }
      for (const file of manifest.files) {
        const state = await objectState(file.digest);
        if (state.state === 'missing')
          bad(file.digest, `object ${file.digest} of output file "${file.path}" is missing`);
        else if (state.state === 'corrupt')
          bad(file.digest, `object ${file.digest} of output file "${file.path}" is corrupt`);
        else if (state.stat.size !== file.size)
          bad(
            file.digest,
            `object ${file.digest} of output file "${file.path}" has ${state.stat.size} bytes, the manifest says ${file.size}`,
          );
      }
      const bytes = manifest.files.reduce((n, f) => n + f.size, 0);
      if (output.files !== manifest.files.length || output.bytes !== bytes)
        bad(
          output.tree,
          `says ${output.files} files of ${output.bytes} bytes, its manifest lists ${manifest.files.length} of ${bytes}`,
        );
    }
  }

  // ---- materialized trees: exactly the manifest's files, each the object's content
  let trees = 0;
  for (const entry of entries(layout.dir('trees'))) {
    const dir = join(layout.dir('trees'), entry.name);
    const tree = entry.name;
    const bad = (path: string, reason: string) => {
      problems.push({ kind: 'tree', path, digest: DIGEST.test(tree) ? tree : null, reason });
      badTrees.add(dir);
    };
    trees++;
    if (!entry.isDirectory() || !DIGEST.test(tree)) {
      // Not a name the store makes: moved aside by --repair, never deleted.
      problems.push({
        kind: 'tree',
        path: dir,
        digest: null,
        reason: 'is not a materialized tree (expected trees/<digest>/)',
      });
      quarantine.set(dir, tree);
      continue;
    }
    const manifest = await manifestOf(tree);
    if (typeof manifest === 'string') {
      bad(dir, manifest);
      continue;
    }
    let found: ReturnType<typeof walk>;
    try {
      found = walk(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        trees--; // removed or rebuilt meanwhile
        continue;
      }
      bad(dir, `cannot be read (${(error as Error).message})`);
      continue;
    }
    const wanted = new Set<string>();
    // Manifest paths are validated (relative, normalised), so each walk up ends at "."; the
    // `parent !== d` test stops it even so.
    for (const rel of [
      ...manifest.dirs,
      ...[...manifest.files, ...(manifest.links ?? [])].map((f) => posix.dirname(f.path)),
    ])
      for (let d = rel; d !== '.' && d !== '' && posix.dirname(d) !== d; d = posix.dirname(d)) wanted.add(d);
    for (const file of manifest.files) {
      const path = join(dir, file.path);
      const stat = found.files.get(file.path);
      found.files.delete(file.path);
      if (!stat) {
        bad(path, `file "${file.path}" is missing`);
        continue;
      }
      if (stat.size !== file.size) {
        bad(path, `file "${file.path}" has ${stat.size} bytes, the manifest says ${file.size}`);
        continue;
      }
      const object = await objectState(file.digest);
      if (object.state !== 'missing' && object.stat.ino === stat.ino && object.stat.dev === stat.dev) {
        if (object.state === 'corrupt')
          bad(path, `file "${file.path}" is a link to corrupt object ${file.digest}`);
        continue;
      }
      // A copy (no hard links here) or a link to an object since replaced: check its content itself.
      let actual: string;
      try {
        actual = await hashFile(path, stat.size);
      } catch (error) {
        bad(path, `file "${file.path}" cannot be read (${(error as Error).message})`);
        continue;
      }
      if (actual !== file.digest)
        bad(path, `file "${file.path}" is corrupt: its content hashes to ${actual}, not ${file.digest}`);
    }
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
    for (const rel of found.files.keys()) bad(join(dir, rel), `extra file "${rel}" (not in the manifest)`);
    for (const rel of found.others) bad(join(dir, rel), `"${rel}" is neither a file nor a folder`);
    for (const rel of found.dirs)
      if (!wanted.has(rel)) bad(join(dir, rel), `extra folder "${rel}" (not in the manifest)`);
    for (const rel of manifest.dirs)
      if (rel !== '' && !found.dirs.has(rel)) bad(join(dir, rel), `folder "${rel}" is missing`);
  }

  // ---- refs: readable, and every stage they name has a usable run record (gc keeps by refs)
  const badRefs = new Map<string, { drop?: string[] }>();
  for (const entry of listRefFiles(store)) {
    if ('problem' in entry) {
      problems.push({ kind: 'ref', path: entry.path, digest: null, reason: entry.problem });
      badRefs.set(entry.path, {});
      continue;
    }
    const { path, ref } = entry;
    if (path !== layout.ref(refId(ref.specFile))) {
      problems.push({
        kind: 'ref',
        path,
        digest: null,
        reason: `is named for another experiment file than ${ref.specFile}`,
      });
      badRefs.set(path, {});
      continue;
    }
    const drop: string[] = [];
    for (const [stage, { key }] of Object.entries(ref.stages)) {
      // A damaged record is reported above; --repair removes it and so drops it from the ref too.
      if (badRecords.has(layout.record(key))) {
        drop.push(stage);
        continue;
      }
      if (store.lookupRecord(key).record !== undefined) continue;
      problems.push({
        kind: 'ref',
        path,
        digest: key,
        reason: `stage "${stage}" of experiment "${ref.experiment}" names run record ${key}, which is not in the cache`,
      });
      drop.push(stage);
    }
    if (drop.length > 0) badRefs.set(path, { drop });
  }

  const report: VerifyReport = {
    ok: problems.length === 0,
    objects: done,
    records,
    trees,
    bytes: hashedBytes,
    problems,
    repaired: { quarantined: 0, records: 0, trees: 0, refs: 0 },
  };
  if (options.repair) {
    const now = new Date();
    if (quarantine.size > 0) mkdirSync(layout.dir('quarantine'), { recursive: true });
    for (const [path, name] of quarantine) {
      try {
        renameSync(path, layout.quarantine(name, now));
        report.repaired.quarantined++;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    for (const path of badRecords) {
      rmSync(path, { force: true });
      report.repaired.records++;
    }
    for (const path of badTrees) {
      rmSync(path, { recursive: true, force: true });
      report.repaired.trees++;
    }
    // An unreadable ref is moved aside; one naming missing results forgets those stages (the next
    // run of its experiment records them again).
    for (const [path, { drop }] of badRefs) {
      if (drop) dropRefStages(store, path, drop);
      else {
        mkdirSync(layout.dir('quarantine'), { recursive: true });
        renameSync(path, layout.quarantine(path.slice(path.lastIndexOf('/') + 1), now));
      }
      report.repaired.refs++;
    }
  }
  store.statCache.save(layout.tmp);
  return report;
}

/** The files (with their lstat), folders and other entries under a tree folder, by relative POSIX path. */
function walk(root: string): {
  files: Map<string, Stats>;
  dirs: Set<string>;
  links: Map<string, string>;
  others: string[];
} {
  const files = new Map<string, Stats>();
  const dirs = new Set<string>();
  const links = new Map<string, string>();
  const others: string[] = [];
  const visit = (rel: string) => {
    for (const entry of readdirSync(rel === '' ? root : join(root, rel), { withFileTypes: true })) {
      const child = rel === '' ? entry.name : posix.join(rel, entry.name);
      if (entry.isDirectory()) {
        dirs.add(child);
        visit(child);
      } else if (entry.isFile()) files.set(child, lstatSync(join(root, child)));
      else if (entry.isSymbolicLink()) links.set(child, readlinkSync(join(root, child)));
      else others.push(child);
    }
  };
  visit('');
  return { files, dirs, links, others };
}

function entries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  } catch {
    return [];
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
