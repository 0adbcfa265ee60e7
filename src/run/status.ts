// `status`: for each stage, is its result in the cache, and if not, why not — diffed against the
// experiment's previous run record (param old -> new, dep changed, upstream output changed, …).

import { canonicalJson } from '../cache/canonical.ts';
import type { KeyDescription, RunRecord } from '../cache/record.ts';
import { readRef, refVariant } from '../cache/refs.ts';
import type { CacheStore } from '../cache/store.ts';
import { PipeError } from '../errors.ts';
import type { Graph } from '../graph/build.ts';
import type { ExecutorName, ResolvedStage } from '../pipeline/types.ts';
import { plan, type Step } from './plan.ts';
import { executorOf, storeLookups } from './plan-lookups.ts';

export type StageState = 'up-to-date' | 'stale' | 'never-run';

export interface StageStatusReport {
  name: string;
  state: StageState;
  reasons: string[];
  key?: string;
  /** Warnings of the cached result's run (e.g. a cmd stage that wrote files outside its outs). */
  warnings: string[];
}

/**
 * Every stage's state without running anything (deps are hashed through the stat cache): the same
 * plan `run --dry-run` reports, explained against the experiment's previous run record.
 */
export async function stageStatuses(
  graph: Graph,
  store: CacheStore,
  options: { force?: ReadonlySet<string>; defaultExecutor?: ExecutorName } = {},
): Promise<StageStatusReport[]> {
  const previous = readRef(store, graph.spec.specFile, refVariant(graph.spec))?.stages ?? {};
  const steps = await plan(graph.stages, graph.upstream, graph.order, storeLookups(graph, store), {
    force: options.force ?? new Set(),
    executorOf: (stage) => executorOf(stage, options),
  });
  const states = new Map<string, StageState>();
  const reports: StageStatusReport[] = [];
  for (const step of steps) {
    const report = explainStep(step, graph, store, previous[step.stage]?.key, states);
    states.set(step.stage, report.state);
    reports.push(report);
  }
  // What was hashed to key the stages is remembered, as `run` does: a dep that was only touched
  // (same bytes) is not hashed again by the next status. A failed write is dropped (an accelerator).
  store.statCache.save(store.layout.tmp);
  store.validated.save();
  return reports;
}

/** A step in status words: served is up to date; anything else is stale or never run, with why. */
function explainStep(
  step: Step,
  graph: Graph,
  store: CacheStore,
  previousKey: string | undefined,
  states: ReadonlyMap<string, StageState>,
): StageStatusReport {
  const { stage: name, key } = step;
  if (step.action === 'serve')
    return { name, state: 'up-to-date', reasons: [], key, warnings: step.record!.warnings ?? [] };
  if (step.error && !(step.error instanceof PipeError)) throw step.error;
  const reasons = [...step.damage];
  if (step.error) reasons.push(step.error.message);
  if (step.action === 'skip' || step.action === 'would-run')
    for (const u of graph.upstream.get(name) ?? [])
      if (states.get(u) !== 'up-to-date')
        reasons.push(`upstream ${u} is ${states.get(u) === 'never-run' ? 'not built yet' : 'stale'}`);
  if (step.forced) reasons.push('forced');
  if (previousKey === undefined) return withKey({ name, state: 'never-run', reasons, warnings: [] }, key);
  const prevRecord = store.readRecord(previousKey);
  if (prevRecord) reasons.push(...diffAgainst(graph.stages.get(name)!, prevRecord, step.description));
  else reasons.push('the previous result is no longer in the cache (removed by gc?)');
  if (key && previousKey === key && reasons.length === 0)
    reasons.push('the cached result is missing or damaged');
  if (reasons.length === 0) reasons.push('inputs changed');
  return withKey({ name, state: 'stale', reasons, warnings: [] }, key);
}

function withKey(report: StageStatusReport, key: string | undefined): StageStatusReport {
  return key ? { ...report, key } : report;
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
