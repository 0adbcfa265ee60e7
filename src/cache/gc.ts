// Garbage collection: keep what some experiment's latest run references (its run records, their
// output trees, the objects in them, their logs); drop everything else, and stale temp files.
// Only names the store creates (layout.ts NAMES) are ever removed; anything else in the folder is
// left alone. The caller holds the cache (maintenance.ts), so no run starts meanwhile.
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PipeError } from '../errors.ts';
import { activeRuns } from './active-runs.ts';
import { NAMES } from './layout.ts';
import { holderIsAlive, parseOwnerTag, unownedIsAlive } from './liveness.ts';
import { listRefFiles } from './refs.ts';
import type { CacheStore } from './store.ts';

export interface GcReport {
  keptRecords: number;
  keptObjects: number;
  keptBytes: number;
  removed: {
    objects: number;
    records: number;
    trees: number;
    logs: number;
    tmp: number;
    refs: number;
    resume: number;
    locks: number;
    bytes: number;
  };
  /** Refs dropped because their experiment file no longer exists. */
  droppedExperiments: string[];
}

export function collectGarbage(store: CacheStore, options: { dryRun: boolean }): GcReport {
  const { layout } = store;
  const keepKeys = new Set<string>();
  const keepTrees = new Set<string>();
  const keepObjects = new Set<string>();
  const removed = {
    objects: 0,
    records: 0,
    trees: 0,
    logs: 0,
    tmp: 0,
    refs: 0,
    resume: 0,
    locks: 0,
    bytes: 0,
  };
  const droppedExperiments: string[] = [];

  // What refs keep is what survives: a ref that cannot be read would let gc delete the results of
  // its experiment, so gc stops before removing anything.
  const refs = listRefFiles(store);
  const unreadable = refs.find((r) => 'problem' in r);
  if (unreadable && 'problem' in unreadable) {
    throw new PipeError(`gc: the ref ${unreadable.path} ${unreadable.problem}; gc removed nothing`, {
      code: 'E_GC_BAD_REF',
      hint: 'run `gpt2o-pipe verify --repair` (it moves unreadable refs to quarantine/), or delete that file; the next run of its experiment writes it again',
    });
  }
  for (const entry of refs) {
    if (!('ref' in entry)) continue;
    const { path, ref } = entry;
    if (!existsSync(ref.specFile)) {
      droppedExperiments.push(ref.specFile);
      removed.refs++;
      if (!options.dryRun) rmSync(path, { force: true });
      continue;
    }
    for (const { key } of Object.values(ref.stages)) {
      const record = store.readRecord(key);
      if (!record) continue;
      keepKeys.add(key);
      keepTrees.add(record.output.tree);
      keepObjects.add(record.output.tree);
      try {
        for (const file of store.readManifest(record.output.tree).files) keepObjects.add(file.digest);
      } catch {
        // a missing or invalid manifest: nothing more to keep for it; `run` will recompute the stage
      }
    }
  }

  let keptBytes = 0;
  const remove = (path: string, counter: keyof typeof removed, size = sizeOf(path)) => {
    removed[counter]++;
    removed.bytes += size;
    if (!options.dryRun) rmSync(path, { recursive: true, force: true });
  };
  for (const path of fannedOut(layout.dir('objects'), NAMES.object)) {
    const name = basename(path);
    if (keepObjects.has(name)) keptBytes += sizeOf(path);
    else remove(path, 'objects');
  }
  // The stat cache remembers when each object was last verified: forget the removed ones.
  if (!options.dryRun) {
    const objects = `${layout.dir('objects')}/`;
    store.statCache.prune(
      layout.tmp,
      (path) => path.startsWith(objects) && !keepObjects.has(path.slice(path.lastIndexOf('/') + 1)),
    );
  }
  for (const path of fannedOut(layout.dir('actions'), NAMES.record))
    if (!keepKeys.has(basename(path).replace(/\.json$/, ''))) remove(path, 'records');
  for (const name of namesIn(layout.dir('logs'), NAMES.log))
    if (!keepKeys.has(name.replace(/\.log$/, ''))) remove(join(layout.dir('logs'), name), 'logs');
  for (const name of namesIn(layout.dir('trees'), NAMES.tree))
    if (!keepTrees.has(name)) remove(join(layout.dir('trees'), name), 'trees', 0);
  // Temp entries are named "<pid>@<host>~…"; those of dead processes are leftovers of killed runs.
  for (const name of namesIn(layout.tmp, NAMES.tmp)) {
    const path = join(layout.tmp, name);
    const holder = parseOwnerTag(name);
    const touched = statSync(path, { throwIfNoEntry: false })?.mtimeMs;
    if (!holder || touched === undefined || holderIsAlive(holder, touched)) continue;
    remove(path, 'tmp');
  }
  // Resume folders of interrupted stages are kept (rerunning continues from them) unless empty or
  // their key has since been committed; `rm -r cache/resume` drops them all.
  for (const name of namesIn(layout.dir('resume'), NAMES.resume)) {
    const path = join(layout.dir('resume'), name);
    if (safeReaddir(path).length > 0 && !store.readRecord(name)) continue;
    remove(path, 'resume', 0);
  }
  // Locks of dead processes (a kill between a commit and the lock's release leaves one; the next
  // run of that key takes it over, but a key that is never run again keeps it).
  for (const name of namesIn(layout.dir('locks'), NAMES.lock)) {
    const path = join(layout.dir('locks'), name);
    let owner: { pid?: unknown; host?: unknown } | undefined;
    try {
      owner = JSON.parse(readFileSync(join(path, 'owner.json'), 'utf8'));
    } catch {
      owner = undefined;
    }
    const touched = statSync(owner ? join(path, 'owner.json') : path, { throwIfNoEntry: false })?.mtimeMs;
    if (touched === undefined) continue;
    const dead =
      owner && typeof owner.pid === 'number' && typeof owner.host === 'string'
        ? !holderIsAlive({ pid: owner.pid, host: owner.host }, touched)
        : !unownedIsAlive(Date.now() - touched);
    if (dead) remove(path, 'locks', 0);
  }
  // Markers of runs that were killed.
  for (const run of activeRuns(store)) if (!run.alive && !options.dryRun) rmSync(run.path, { force: true });
  return {
    keptRecords: keepKeys.size,
    keptObjects: keepObjects.size,
    keptBytes,
    removed,
    droppedExperiments,
  };
}

/** Entries named `pattern` one level below the two-character fan-out folders (objects/ab/…). */
function fannedOut(dir: string, pattern: RegExp): string[] {
  const out: string[] = [];
  for (const fan of namesIn(dir, NAMES.fanout)) {
    const path = join(dir, fan);
    for (const inner of namesIn(path, pattern)) if (inner.startsWith(fan)) out.push(join(path, inner));
  }
  return out;
}

/**
 * The names in `dir` that match `pattern` (the ones the store creates there). A `dir` that is a
 * symlink is not the store's (it made none): nothing in it is listed, so nothing is removed there.
 */
function namesIn(dir: string, pattern: RegExp): string[] {
  if (!lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) return [];
  return safeReaddir(dir).filter((name) => pattern.test(name));
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
