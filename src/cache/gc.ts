// Garbage collection: keep what some experiment's latest run references (its run records, their
// output trees, the objects in them, their logs); drop everything else, and stale temp files.
// Only names the store creates (layout.ts NAMES) are ever removed; anything else in the folder is
// left alone. The caller holds the cache (maintenance.ts), so no run starts meanwhile.
import { existsSync, lstatSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PipeError } from '../errors.ts';
import { activeRuns } from './active-runs.ts';
import { NAMES } from './layout.ts';
import { holderIsAlive, parseOwnerTag } from './liveness.ts';
import { lockIsHeldSync } from './lock.ts';
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

type Counter = Exclude<keyof GcReport['removed'], 'bytes'>;

/** What gc would do, found by reading only: what the refs keep, and each entry to remove. */
export interface GcPlan {
  keep: { keys: Set<string>; trees: Set<string>; objects: Set<string>; bytes: number };
  removals: { path: string; counter: Counter; bytes: number }[];
  /** Refs whose experiment file no longer exists. */
  droppedRefs: { path: string; specFile: string }[];
}

export function collectGarbage(store: CacheStore, options: { dryRun: boolean }): GcReport {
  const plan = planGarbage(store);
  if (!options.dryRun) applyGarbage(store, plan);
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
  for (const r of plan.removals) {
    removed[r.counter]++;
    removed.bytes += r.bytes;
  }
  return {
    keptRecords: plan.keep.keys.size,
    keptObjects: plan.keep.objects.size,
    keptBytes: plan.keep.bytes,
    removed,
    droppedExperiments: plan.droppedRefs.map((r) => r.specFile),
  };
}

/** Removes what the plan lists; the stat cache forgets removed objects; markers of killed runs go. */
export function applyGarbage(store: CacheStore, plan: GcPlan): void {
  const { layout } = store;
  for (const { path } of plan.removals) rmSync(path, { recursive: true, force: true });
  // The stat cache remembers when each object was last verified: forget the removed ones.
  const objects = `${layout.dir('objects')}/`;
  store.statCache.prune(
    layout.tmp,
    (path) => path.startsWith(objects) && !plan.keep.objects.has(path.slice(path.lastIndexOf('/') + 1)),
  );
  for (const run of activeRuns(store)) if (!run.alive) rmSync(run.path, { force: true });
}

/** Reads the refs and the cache folders; removes nothing. */
export function planGarbage(store: CacheStore): GcPlan {
  const plan: GcPlan = {
    keep: { keys: new Set(), trees: new Set(), objects: new Set(), bytes: 0 },
    removals: [],
    droppedRefs: [],
  };
  keepWhatRefsName(store, plan);
  const { layout } = store;
  const { keep } = plan;
  const remove = (path: string, counter: Counter, bytes = sizeOf(path)) =>
    plan.removals.push({ path, counter, bytes });
  for (const { path } of plan.droppedRefs) plan.removals.push({ path, counter: 'refs', bytes: 0 });
  for (const path of fannedOut(layout.dir('objects'), NAMES.object)) {
    if (keep.objects.has(basename(path))) keep.bytes += sizeOf(path);
    else remove(path, 'objects');
  }
  for (const path of fannedOut(layout.dir('actions'), NAMES.record))
    if (!keep.keys.has(basename(path).replace(/\.json$/, ''))) remove(path, 'records');
  for (const name of namesIn(layout.dir('logs'), NAMES.log))
    if (!keep.keys.has(name.replace(/\.log$/, ''))) remove(join(layout.dir('logs'), name), 'logs');
  for (const name of namesIn(layout.dir('trees'), NAMES.tree))
    if (!keep.trees.has(name)) remove(join(layout.dir('trees'), name), 'trees', 0);
  // Temp entries are named "<pid>@<host>~…"; those of dead processes are leftovers of killed runs.
  for (const name of namesIn(layout.tmp, NAMES.tmp)) {
    const path = join(layout.tmp, name);
    const holder = parseOwnerTag(name);
    const touched = statSync(path, { throwIfNoEntry: false })?.mtimeMs;
    if (!holder || touched === undefined || holderIsAlive(holder, touched)) continue;
    remove(path, 'tmp');
  }
  // Resume folders of interrupted stages are kept (rerunning continues from them) unless empty or
  // their key is committed and kept; `rm -r cache/resume` drops them all.
  for (const name of namesIn(layout.dir('resume'), NAMES.resume)) {
    const path = join(layout.dir('resume'), name);
    if (safeReaddir(path).length > 0 && !keep.keys.has(name)) continue;
    remove(path, 'resume', 0);
  }
  // Locks of dead processes (a kill between a commit and the lock's release leaves one; the next
  // run of that key takes it over, but a key that is never run again keeps it).
  for (const name of namesIn(layout.dir('locks'), NAMES.lock)) {
    const path = join(layout.dir('locks'), name);
    // Gone meanwhile (released): nothing to remove.
    if (existsSync(path) && !lockIsHeldSync(path)) remove(path, 'locks', 0);
  }
  return plan;
}

/**
 * What survives is what refs keep: their records, output trees and objects. A ref that cannot be
 * read would let gc delete the results of its experiment, so gc stops before removing anything.
 */
function keepWhatRefsName(store: CacheStore, plan: GcPlan): void {
  const refs = listRefFiles(store);
  const unreadable = refs.find((r) => 'problem' in r);
  if (unreadable && 'problem' in unreadable) {
    throw new PipeError(`gc: the ref ${unreadable.path} ${unreadable.problem}; gc removed nothing`, {
      code: 'E_GC_BAD_REF',
      hint: 'run `gpt2o-pipe verify --repair` (it moves unreadable refs to quarantine/), or delete that file; the next run of its experiment writes it again',
    });
  }
  const { keep } = plan;
  for (const entry of refs) {
    if (!('ref' in entry)) continue;
    const { path, ref } = entry;
    if (!existsSync(ref.specFile)) {
      plan.droppedRefs.push({ path, specFile: ref.specFile });
      continue;
    }
    for (const { key } of Object.values(ref.stages)) {
      const record = store.readRecord(key);
      if (!record) continue;
      keep.keys.add(key);
      keep.trees.add(record.output.tree);
      keep.objects.add(record.output.tree);
      try {
        for (const file of store.readManifest(record.output.tree).files) keep.objects.add(file.digest);
      } catch {
        // a missing or invalid manifest: nothing more to keep for it; `run` will recompute the stage
      }
    }
  }
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
