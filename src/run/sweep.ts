// Runs the variants of a sweep as one graph: every variant's stages are scheduled at once, sharing
// the job slots (`--jobs`) and the stage keys, so a key several variants share runs once and the
// others take its result (scheduler.ts, SharedKeys). A variant that fails stops only itself.
import type { Graph } from '../graph/build.ts';
import type { Emit, StageOutcome } from './events.ts';
import { type RunOptions, runStages, type SharedKeys } from './scheduler.ts';
import { Semaphore } from './semaphore.ts';
import type { SlurmContext } from './slurm/index.ts';
import type { SharedSubmissions } from './submit-ahead.ts';

export interface SweepVariantRun {
  name: string;
  graph: Graph;
  /** Its stages to consider, in topological order (selectStages). */
  selected: readonly string[];
  emit: Emit;
  slurm?: SlurmContext;
}

/** What every variant runs with; `jobs` bounds the whole sweep, not each variant. */
export type SweepRunOptions = Omit<RunOptions, 'graph' | 'selected' | 'emit' | 'slurm' | 'sweep'>;

/** Each variant's outcomes by stage name, by variant name. */
export async function runSweepStages(
  variants: readonly SweepVariantRun[],
  options: SweepRunOptions,
): Promise<Map<string, Map<string, StageOutcome>>> {
  const semaphore = new Semaphore(Math.max(1, options.jobs));
  const running: SharedKeys = new Map();
  const submitted: SharedSubmissions = new Map();
  const results = await Promise.all(
    variants.map((v) =>
      runStages({
        ...options,
        graph: v.graph,
        selected: v.selected,
        emit: v.emit,
        ...(v.slurm ? { slurm: v.slurm } : {}),
        sweep: { name: v.name, semaphore, running, submitted },
      }),
    ),
  );
  return new Map(variants.map((v, i) => [v.name, results[i]!]));
}

/** Stage executions of a sweep: outcomes that ran (a shared key is counted where it ran, once). */
export function countExecutions(outcomes: Iterable<Map<string, StageOutcome>>): number {
  let n = 0;
  for (const variant of outcomes) for (const o of variant.values()) if (o.status === 'ran') n++;
  return n;
}
