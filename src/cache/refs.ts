// Each experiment's latest run: stage name → key and output tree. `status` diffs against it,
// `gc` keeps what any ref points to. Refs are named by the experiment file's absolute path.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CacheStore } from './store.ts';

export interface StageRef {
  key: string;
  tree: string;
}

export interface ExperimentRef {
  specFile: string;
  experiment: string;
  projectRoot: string;
  updatedAt: string;
  stages: Record<string, StageRef>;
}

export function refId(specFile: string): string {
  return createHash('sha1').update(specFile).digest('hex').slice(0, 20);
}

export function readRef(store: CacheStore, specFile: string): ExperimentRef | undefined {
  return readRefFile(store.layout.ref(refId(specFile)));
}

function readRefFile(path: string): ExperimentRef | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ExperimentRef;
  } catch {
    return undefined;
  }
}

/** Records the stages of this run on top of the experiment's previous ref (a partial run keeps the rest). */
export function updateRef(
  store: CacheStore,
  base: Omit<ExperimentRef, 'stages' | 'updatedAt'>,
  stages: Record<string, StageRef>,
  keep: readonly string[],
): void {
  const before = readRef(store, base.specFile);
  const previous = before?.stages ?? {};
  const merged: Record<string, StageRef> = {};
  for (const name of keep) {
    const ref = stages[name] ?? previous[name];
    if (ref) merged[name] = ref;
  }
  // A fully cached run changes nothing: skip the write (and keep updatedAt meaning "last change").
  if (
    before &&
    before.projectRoot === base.projectRoot &&
    JSON.stringify(before.stages) === JSON.stringify(merged)
  )
    return;
  const ref: ExperimentRef = { ...base, updatedAt: new Date().toISOString(), stages: merged };
  const path = store.layout.ref(refId(base.specFile));
  mkdirSync(dirname(path), { recursive: true });
  const tmp = store.tmpName('ref');
  mkdirSync(dirname(tmp), { recursive: true });
  writeFileSync(tmp, `${JSON.stringify(ref, null, 2)}\n`);
  renameSync(tmp, path);
}

export function listRefs(store: CacheStore): { path: string; ref: ExperimentRef }[] {
  const dir = store.layout.dir('refs');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .flatMap((n) => {
      const ref = readRefFile(join(dir, n));
      return ref ? [{ path: join(dir, n), ref }] : [];
    });
}
