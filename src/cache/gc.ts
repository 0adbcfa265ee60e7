// Garbage collection: keep what some experiment's latest run references (its run records, their
// output trees, the objects in them, their logs); drop everything else, and stale temp files.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isAlive } from './active-runs.ts';
import { listRefs } from './refs.ts';
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

  for (const { path, ref } of listRefs(store)) {
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
        // a missing manifest: nothing more to keep for it; `run` will recompute the stage
      }
    }
  }

  let keptBytes = 0;
  const sweep = (dir: string, keep: (name: string) => boolean, counter: keyof typeof removed) => {
    for (const path of listFiles(dir)) {
      const name = path.slice(path.lastIndexOf('/') + 1);
      const size = sizeOf(path);
      if (keep(name)) {
        if (counter === 'objects') keptBytes += size;
        continue;
      }
      removed[counter]++;
      removed.bytes += size;
      if (!options.dryRun) rmSync(path, { recursive: true, force: true });
    }
  };
  sweep(layout.dir('objects'), (name) => keepObjects.has(name), 'objects');
  // The stat cache remembers when each object was last verified: forget the removed ones.
  if (!options.dryRun) {
    const objects = `${layout.dir('objects')}/`;
    store.statCache.prune(
      layout.tmp,
      (path) => path.startsWith(objects) && !keepObjects.has(path.slice(path.lastIndexOf('/') + 1)),
    );
  }
  sweep(layout.dir('actions'), (name) => keepKeys.has(name.replace(/\.json$/, '')), 'records');
  sweep(layout.dir('logs'), (name) => keepKeys.has(name.replace(/\.log$/, '')), 'logs');
  for (const name of safeReaddir(layout.dir('trees'))) {
    if (keepTrees.has(name)) continue;
    removed.trees++;
    if (!options.dryRun) rmSync(join(layout.dir('trees'), name), { recursive: true, force: true });
  }
  // Temp entries are named "<pid>-…"; those of dead processes are leftovers of killed runs.
  for (const name of safeReaddir(layout.tmp)) {
    const pid = Number(name.split(/[-.]/)[0]);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) continue;
    removed.tmp++;
    if (!options.dryRun) rmSync(join(layout.tmp, name), { recursive: true, force: true });
  }
  // Resume folders of interrupted stages are kept (rerunning continues from them) unless empty or
  // their key has since been committed; `rm -r cache/resume` drops them all.
  for (const name of safeReaddir(layout.dir('resume'))) {
    const path = join(layout.dir('resume'), name);
    if (safeReaddir(path).length > 0 && !store.readRecord(name)) continue;
    removed.resume++;
    if (!options.dryRun) rmSync(path, { recursive: true, force: true });
  }
  // Locks of dead processes on this host (a kill between a commit and the lock's release leaves
  // one; the next run of that key takes it over, but a key that is never run again keeps it).
  for (const name of safeReaddir(layout.dir('locks'))) {
    if (!name.endsWith('.lock')) continue;
    const path = join(layout.dir('locks'), name);
    let owner: { pid?: number; host?: string } | undefined;
    try {
      owner = JSON.parse(readFileSync(join(path, 'owner.json'), 'utf8'));
    } catch {
      owner = undefined;
    }
    const dead = owner
      ? owner.host === hostname() && typeof owner.pid === 'number' && !isAlive(owner.pid)
      : Date.now() - statSync(path).mtimeMs > 60_000;
    if (!dead) continue;
    removed.locks++;
    if (!options.dryRun) rmSync(path, { recursive: true, force: true });
  }
  return {
    keptRecords: keepKeys.size,
    keptObjects: keepObjects.size,
    keptBytes,
    removed,
    droppedExperiments,
  };
}

/** Files one level below the two-character fan-out folders (objects/ab/…, actions/ab/…) or directly inside. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of safeReaddir(dir)) {
    const path = join(dir, name);
    if (name.length === 2 && statSync(path).isDirectory())
      for (const inner of safeReaddir(path)) out.push(join(path, inner));
    else out.push(path);
  }
  return out;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
