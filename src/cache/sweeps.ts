// A sweep's record: its name, the experiment file it varies, the `--set`s under it and each
// variant's name and param values. Written when a sweep starts, so `status SWEEP`, `compare SWEEP`
// and a variant's own name work from then on; each variant's results live in its own ref.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { replaceFileSync } from '../util/file-ops.ts';
import { NAMES } from './layout.ts';
import type { CacheStore } from './store.ts';

export interface SweepRecord {
  format: 1;
  sweep: string;
  /** The experiment file (absolute) every variant resolves from. */
  specFile: string;
  projectRoot: string;
  /** `--set`s given with the sweep, applied under every variant. */
  sets: string[];
  /** The swept params, in order. */
  params: string[];
  variants: { name: string; values: Record<string, unknown> }[];
  updatedAt: string;
}

// Same rule as an experiment's name (pipeline/schema.ts); repeated here because the cache is a leaf.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Sweeps are named per project: two projects sharing a cache may each have a sweep "lr". */
export function sweepId(projectRoot: string, name: string): string {
  return createHash('sha1').update(`${projectRoot}\0${name}`).digest('hex').slice(0, 20);
}

/** Writes (replaces) a sweep's record; tmp + rename, like refs. */
export function writeSweep(store: CacheStore, record: Omit<SweepRecord, 'format' | 'updatedAt'>): void {
  const path = store.layout.sweep(sweepId(record.projectRoot, record.sweep));
  mkdirSync(dirname(path), { recursive: true });
  const tmp = store.tmpName('sweep');
  mkdirSync(dirname(tmp), { recursive: true });
  const full: SweepRecord = { format: 1, ...record, updatedAt: new Date().toISOString() };
  replaceFileSync(path, `${JSON.stringify(full, null, 2)}\n`, tmp);
}

/** The sweeps of a project, by name; records that do not validate are skipped. */
export function listSweeps(store: CacheStore, projectRoot: string): SweepRecord[] {
  let names: string[];
  try {
    names = readdirSync(store.layout.sweeps).sort();
  } catch {
    return [];
  }
  return names
    .filter((n) => NAMES.sweep.test(n))
    .flatMap((n) => {
      const record = readSweepFile(join(store.layout.sweeps, n));
      return record && record.projectRoot === projectRoot ? [record] : [];
    })
    .sort((a, b) => a.sweep.localeCompare(b.sweep));
}

/** A sweep record read from disk, if it is one: data, validated before any field is used. */
function readSweepFile(path: string): SweepRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const r = value as Partial<SweepRecord> | null;
  if (
    !r ||
    typeof r !== 'object' ||
    r.format !== 1 ||
    typeof r.sweep !== 'string' ||
    !NAME.test(r.sweep) ||
    typeof r.specFile !== 'string' ||
    !isAbsolute(r.specFile) ||
    typeof r.projectRoot !== 'string' ||
    !Array.isArray(r.sets) ||
    !r.sets.every((s) => typeof s === 'string') ||
    !Array.isArray(r.params) ||
    !Array.isArray(r.variants) ||
    !r.variants.every(
      (v) => v && typeof v.name === 'string' && NAME.test(v.name) && v.values && typeof v.values === 'object',
    )
  )
    return undefined;
  return r as SweepRecord;
}
