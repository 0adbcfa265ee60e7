// `status`: for each stage, is its result in the cache, and if not, why not — diffed against the
// experiment's previous run record (param old -> new, dep changed, upstream output changed, …).

import { canonicalJson } from '../cache/canonical.ts';
import { describeStage, keyOf } from '../cache/key.ts';
import type { KeyDescription, RunRecord } from '../cache/record.ts';
import { readRef } from '../cache/refs.ts';
import { type CacheStore, describeDamage } from '../cache/store.ts';
import { PipeError } from '../errors.ts';
import type { Graph } from '../graph/build.ts';
import type { ResolvedStage } from '../spec/types.ts';

export type StageState = 'up-to-date' | 'stale' | 'never-run';

export interface StageStatusReport {
  name: string;
  state: StageState;
  reasons: string[];
  key?: string;
  /** Warnings of the cached result's run (e.g. a cmd stage that wrote files outside its outs). */
  warnings: string[];
}

/** Computes every stage's state without running anything (deps are hashed through the stat cache). */
export async function stageStatuses(graph: Graph, store: CacheStore): Promise<StageStatusReport[]> {
  const previous = readRef(store, graph.spec.specFile)?.stages ?? {};
  const trees = new Map<string, string>();
  const states = new Map<string, StageState>();
  const reports: StageStatusReport[] = [];

  for (const name of graph.order) {
    const stage = graph.stages.get(name)!;
    const ups = graph.upstream.get(name) ?? [];
    const prevRef = previous[name];
    const prevRecord = prevRef ? store.readRecord(prevRef.key) : undefined;
    const notReady = ups.filter((u) => states.get(u) !== 'up-to-date');

    let description: KeyDescription | undefined;
    let key: string | undefined;
    const reasons: string[] = [];
    try {
      if (notReady.length === 0) {
        description = await describeStage(stage, graph, trees, store);
        key = await keyOf(description);
        const record = await store.serve(key, (damage) => reasons.push(describeDamage(damage)));
        if (record) {
          trees.set(name, record.output.tree);
          states.set(name, 'up-to-date');
          reports.push({ name, state: 'up-to-date', reasons: [], key, warnings: record.warnings ?? [] });
          continue;
        }
      } else {
        for (const u of notReady)
          reasons.push(`upstream ${u} is ${states.get(u) === 'never-run' ? 'not built yet' : 'stale'}`);
      }
    } catch (error) {
      if (!(error instanceof PipeError)) throw error;
      reasons.push(error.message);
    }

    let state: StageState;
    if (!prevRef) state = 'never-run';
    else {
      state = 'stale';
      if (prevRecord) reasons.push(...diffAgainst(stage, prevRecord, description));
      else reasons.push('the previous result is no longer in the cache (removed by gc?)');
      if (key && prevRef.key === key && reasons.length === 0)
        reasons.push('the cached result is missing or damaged');
      if (reasons.length === 0) reasons.push('inputs changed');
    }
    states.set(name, state);
    reports.push(key ? { name, state, reasons, key, warnings: [] } : { name, state, reasons, warnings: [] });
  }
  return reports;
}

/** Human reasons for a difference between the previous record and the stage as it is now. */
function diffAgainst(stage: ResolvedStage, prev: RunRecord, now: KeyDescription | undefined): string[] {
  const reasons: string[] = [];
  if (prev.description.salt !== (now?.salt ?? prev.description.salt)) reasons.push('cache format changed');
  for (const path of unionKeys(prev.params, stage.params)) {
    const had = Object.hasOwn(prev.params, path);
    const has = Object.hasOwn(stage.params, path);
    if (!had) reasons.push(`now uses param ${path}`);
    else if (!has) reasons.push(`no longer uses param ${path}`);
    else if (canonicalJson(prev.params[path]) !== canonicalJson(stage.params[path])) {
      reasons.push(`param ${path}: ${show(prev.params[path])} -> ${show(stage.params[path])}`);
    }
  }
  const prevId = prev.description.identity;
  if (stage.kind === 'uses' && 'version' in prevId) {
    if (prevId.uses !== stage.uses) reasons.push(`built-in stage changed: ${prevId.uses} -> ${stage.uses}`);
    else if (prevId.version !== stage.definition.version)
      reasons.push(`stage version changed: ${prevId.version} -> ${stage.definition.version}`);
  } else if (prev.description.kind !== stage.kind)
    reasons.push(`stage kind changed: ${prev.description.kind} -> ${stage.kind}`);
  if (canonicalJson(prev.template) !== canonicalJson(stage.template)) {
    reasons.push(stage.kind === 'cmd' ? 'command changed' : '"with:" changed');
  }
  if (
    stage.kind === 'cmd' &&
    canonicalJson(prev.description.outs ?? []) !== canonicalJson(stage.outs.map((o) => o.path).sort())
  ) {
    reasons.push('outs changed');
  }
  if (now) {
    for (const path of unionKeys(prev.description.deps, now.deps)) {
      const before = prev.description.deps[path];
      const after = now.deps[path];
      if (before === undefined) reasons.push(`new dep ${path}`);
      else if (after === undefined) reasons.push(`dep ${path} removed`);
      else if (before !== after) reasons.push(`dep ${path} changed`);
    }
    for (const slot of unionKeys(prev.description.inputs, now.inputs)) {
      const upstream = prev.inputStages[slot] ?? slot;
      if (!(slot in now.inputs)) reasons.push(`no longer needs ${upstream}`);
      else if (!(slot in prev.description.inputs)) reasons.push(`now needs ${upstream}`);
      else if (prev.description.inputs[slot] !== now.inputs[slot])
        reasons.push(`upstream ${upstream} output changed`);
    }
  }
  return reasons;
}

function unionKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
