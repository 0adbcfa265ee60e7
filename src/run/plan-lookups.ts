// The plan's lookups over a real cache: keys are computed from the spec and the deps (hashed through
// the stat cache), and a key is looked up with the store's full integrity check (see store.serve).

import { describeDamage } from '../cache/damage.ts';
import { describeStage, keyOf } from '../cache/key.ts';
import type { CacheStore } from '../cache/store.ts';
import type { Graph } from '../graph/build.ts';
import type { ExecutorName, ResolvedStage } from '../pipeline/types.ts';
import type { PlanLookups } from './plan.ts';

export function storeLookups(graph: Graph, store: CacheStore): PlanLookups {
  return {
    async describe(stage, upstreamTrees) {
      const description = await describeStage(stage, graph, upstreamTrees, store);
      return { description, key: await keyOf(description) };
    },
    serve: (key, onDamage) => store.serve(key, (damage) => onDamage(describeDamage(damage))),
  };
}

/** Where a stage executes: `forceLocal` inside a Slurm job, else its own, the run's, or local. */
export function executorOf(
  stage: ResolvedStage,
  options: { defaultExecutor?: ExecutorName; forceLocal?: boolean },
): ExecutorName {
  if (options.forceLocal) return 'local';
  return stage.executor ?? options.defaultExecutor ?? 'local';
}
