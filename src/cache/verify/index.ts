// `verify`: rehash every object, check every run record, materialized tree and ref, and with
// `repair` put things right: corrupt objects are moved to quarantine/, broken trees and the run
// records that depend on a corrupt or missing object are deleted (the next `run` recomputes them).
// The checks (objects.ts, records.ts, trees.ts, refs.ts) only read and return findings; repair.ts
// alone writes.
import type { CacheStore } from '../store.ts';
import { Findings, type VerifyProblem } from './findings.ts';
import { collectGarbage } from './memory.ts';
import { type HashProgress, ObjectStates } from './objects.ts';
import { checkRecords } from './records.ts';
import { checkRefs } from './refs.ts';
import { applyRepairs, type Repaired } from './repair.ts';
import { checkTrees } from './trees.ts';

export type { ProblemKind, VerifyProblem } from './findings.ts';
export type VerifyProgress = HashProgress;

export interface VerifyReport {
  ok: boolean;
  /** Objects hashed, run records read, trees checked, and the bytes of the objects hashed. */
  objects: number;
  records: number;
  trees: number;
  bytes: number;
  problems: VerifyProblem[];
  repaired: Repaired;
}

export interface VerifyOptions {
  repair: boolean;
  onProgress?: (progress: VerifyProgress) => void;
}

export async function verifyCache(store: CacheStore, options: VerifyOptions): Promise<VerifyReport> {
  const findings = new Findings();
  const objects = new ObjectStates(store, findings);
  await objects.checkAll(options.onProgress);
  objects.rememberNew();
  collectGarbage();
  const records = await checkRecords(store, objects, findings);
  collectGarbage();
  const trees = await checkTrees(store, objects, findings);
  checkRefs(store, findings);
  const repaired = options.repair
    ? applyRepairs(store, findings.repairs)
    : { quarantined: 0, records: 0, trees: 0, refs: 0 };
  // Objects a concurrent run added meanwhile, hashed by the checks of records and trees.
  objects.rememberNew();
  return {
    ok: findings.problems.length === 0,
    objects: objects.hashed,
    records,
    trees,
    bytes: objects.hashedBytes,
    problems: findings.problems,
    repaired,
  };
}
