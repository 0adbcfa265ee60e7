// What a fully cached run's answer rests on (noop-journal.ts): every path it read whose content
// could change the answer, found from the run itself. For each stage served:
//   - its record (key → output tree), the tree's manifest object, and each file and link of its
//     folder under trees/ (a file there is the object's own inode, so its stat covers the object:
//     a rewrite, an unlink or a quarantine moves the inode's ctime);
//   - the project files it reads (deps), followed through links and walked through folders as the
//     key's digest walks them, with each folder's own stat (an entry added or removed moves it);
// And for the run: the spec files, the experiment's ref (the run rewrites a stale one), the
// resume/ folder (the run drops a served key's leftovers) and the runs/<experiment>/ folder (the
// run re-makes a missing or wrong link there; a link is only ever replaced, never changed in
// place, and making, removing or renaming one moves the folder's mtime: one stat for them all).
import { lstatSync, readdirSync, type Stats, statSync } from 'node:fs';
import { depPath } from '../cache/key.ts';
import { refId } from '../cache/refs.ts';
import type { CacheStore } from '../cache/store.ts';
import { MANIFEST_MEMO_MAX } from '../cache/tree-check.ts';
import type { Graph } from '../graph/build.ts';
import type { Evidence } from './noop-journal.ts';

/** A run resting on more paths than this is not journaled (the journal would cost more than it saves). */
export const MAX_EVIDENCE = 200_000;

export interface ServedStage {
  name: string;
  key: string;
  tree: string;
}

export interface ServedRun {
  graph: Graph;
  store: CacheStore;
  runsDir: string;
  served: readonly ServedStage[];
}

/**
 * The evidence of a fully cached run, or why it cannot be journaled: a big tree, too many paths, a
 * dep loop, or a path that cannot be looked at (only "does not exist" is evidence).
 */
export function collectEvidence(run: ServedRun): Evidence[] | string {
  try {
    return collect(run);
  } catch (error) {
    return `a path cannot be looked at (${(error as Error).message})`;
  }
}

function collect(run: ServedRun): Evidence[] | string {
  const { graph, store, runsDir, served } = run;
  const { spec } = graph;
  const out = new EvidenceList();
  for (const file of spec.files) out.add(file, true);
  out.add(store.layout.ref(refId(spec.specFile, spec.variant ? spec.experiment : undefined)), false);
  out.add(store.layout.dir('resume'), false);
  out.add(`${runsDir}/${spec.experiment}`, true);
  for (const { name, key, tree } of served) {
    out.add(store.layout.record(key), false);
    // NOTE: a big tree's seal (tree-seal.ts) checks it with one walk of its folder, faster than a
    // journal line per file would: a run serving one is left to the full path.
    if ((out.add(store.layout.object(tree), false)?.size ?? 0) > MANIFEST_MEMO_MAX)
      return `stage "${name}" serves a big tree (its seal checks it faster)`;
    const folder = store.layout.tree(tree);
    const manifest = store.readManifest(tree);
    for (const file of manifest.files) out.add(`${folder}/${file.path}`, false);
    for (const link of manifest.links ?? []) out.add(`${folder}/${link.path}`, false);
    const stage = graph.stages.get(name)!;
    const produced = new Set((graph.producedDeps.get(name) ?? []).map((p) => p.dep));
    for (const dep of stage.deps)
      if (!produced.has(dep.path) && !out.addWalked(depPath(graph, dep.path)))
        return `dep "${dep.path}" of stage "${name}" loops, or holds over ${MAX_EVIDENCE} paths`;
    if (out.size > MAX_EVIDENCE) return `it rests on over ${MAX_EVIDENCE} paths`;
  }
  return out.list;
}

class EvidenceList {
  readonly list: Evidence[] = [];
  private readonly seen = new Set<string>();

  get size(): number {
    return this.list.length;
  }

  add(path: string, follow: boolean, stat = look(path, follow)): Stats | undefined {
    const id = `${follow ? 'S' : 'L'}${path}`;
    if (this.seen.has(id)) return stat;
    this.seen.add(id);
    this.list.push({ path, follow, stat: stat ? keyOf(stat) : null });
    return stat;
  }

  /**
   * A dep as digestProjectPath reads it: followed through links, every folder walked. False when
   * the walk meets a folder it is already inside (a link loop: the digest fails there anyway).
   */
  addWalked(path: string, inside: ReadonlySet<string> = new Set()): boolean {
    const stat = this.add(path, true);
    if (!stat?.isDirectory()) return true;
    const id = `${stat.dev}:${stat.ino}`;
    if (inside.has(id)) return false;
    const entries = readdirSync(path, { withFileTypes: true });
    const deeper = new Set(inside).add(id);
    for (const entry of entries) if (!this.addWalked(`${path}/${entry.name}`, deeper)) return false;
    return this.size <= MAX_EVIDENCE;
  }
}

/**
 * The path's stat (`follow`: through links), undefined when it does not exist; any other error is
 * thrown. What a journal records, and what its check compares with (run-noop.ts).
 */
export function look(path: string, follow: boolean): Stats | undefined {
  return (follow ? statSync : lstatSync)(path, { throwIfNoEntry: false });
}

function keyOf(stat: Stats) {
  return { size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, ino: stat.ino };
}
