// Refs: readable, and every stage they name has a usable run record (gc keeps by refs).
import { listRefFiles, refId } from '../refs.ts';
import type { CacheStore } from '../store.ts';
import type { Findings } from './findings.ts';

export function checkRefs(store: CacheStore, findings: Findings): void {
  const { layout } = store;
  for (const entry of listRefFiles(store)) {
    if ('problem' in entry) {
      findings.ref(entry.path, null, entry.problem);
      findings.repairs.refs.set(entry.path, {});
      continue;
    }
    const { path, ref } = entry;
    if (path !== layout.ref(refId(ref.specFile, ref.variant))) {
      findings.ref(path, null, `is named for another experiment file than ${ref.specFile}`);
      findings.repairs.refs.set(path, {});
      continue;
    }
    const drop: string[] = [];
    for (const [stage, { key }] of Object.entries(ref.stages)) {
      // A damaged record is reported by checkRecords; --repair removes it and so drops it here too.
      if (findings.repairs.records.has(layout.record(key))) {
        drop.push(stage);
        continue;
      }
      if (store.lookupRecord(key).record !== undefined) continue;
      findings.ref(
        path,
        key,
        `stage "${stage}" of experiment "${ref.experiment}" names run record ${key}, which is not in the cache`,
      );
      drop.push(stage);
    }
    if (drop.length > 0) findings.repairs.refs.set(path, { drop });
  }
}
