// The one step of `verify --repair` that writes: applies the repairs the checks found.
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dropRefStages } from '../refs.ts';
import type { CacheStore } from '../store.ts';
import type { Repairs } from './findings.ts';

export interface Repaired {
  quarantined: number;
  records: number;
  trees: number;
  refs: number;
}

export function applyRepairs(store: CacheStore, repairs: Repairs, now = new Date()): Repaired {
  const { layout } = store;
  const repaired: Repaired = { quarantined: 0, records: 0, trees: 0, refs: 0 };
  if (repairs.quarantine.size > 0) mkdirSync(layout.dir('quarantine'), { recursive: true });
  for (const [path, name] of repairs.quarantine) {
    try {
      renameSync(path, layout.quarantine(name, now));
      repaired.quarantined++;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  for (const path of repairs.records) {
    rmSync(path, { force: true });
    repaired.records++;
  }
  for (const path of repairs.trees) {
    rmSync(path, { recursive: true, force: true });
    repaired.trees++;
  }
  // An unreadable ref is moved aside; one naming missing results forgets those stages (the next
  // run of its experiment records them again).
  for (const [path, { drop }] of repairs.refs) {
    if (drop) dropRefStages(store, path, drop);
    else {
      mkdirSync(layout.dir('quarantine'), { recursive: true });
      renameSync(path, layout.quarantine(path.slice(path.lastIndexOf('/') + 1), now));
    }
    repaired.refs++;
  }
  return repaired;
}
