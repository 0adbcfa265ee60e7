// The plan: what each stage of a run does and why (DVC's `plan_repro`). Deciding is pure: the only
// I/O is through the lookups a caller hands in (key a stage, look a key up in the cache), so the
// rules are tested on hand-built graphs with in-memory lookups (test/unit/plan.test.ts). `run`
// asks `planStage` stage by stage as upstream stages finish; `run --dry-run` and `status` take the
// whole `plan` at once, so the three can never disagree about a stage.
//
//     prepare ──► train ──► evaluate        upstream failed or skipped  → skip
//          └────► report ◄──┘               upstream would run (dry)     → would-run
//                                           upstream is a Slurm job, and
//                                             this stage runs on Slurm   → submit (after those jobs)
//                                           cannot be keyed (dep gone)   → fail
//                                           forced, or key not cached    → run
//                                           key cached and intact        → serve
import type { KeyDescription, ServedRecord } from '../cache/record.ts';
import type { ExecutorName, ResolvedStage } from '../pipeline/types.ts';

export type Action = 'run' | 'serve' | 'skip' | 'would-run' | 'fail' | 'submit';

export interface Step {
  stage: string;
  action: Action;
  /** Why, in words (empty for serve). */
  reason: string;
  /** Where the stage executes when it runs. */
  executor: ExecutorName;
  key?: string;
  description?: KeyDescription;
  /** serve: what the cached run record says of its output. */
  record?: ServedRecord;
  /** fail: why the stage could not be keyed (a PipeError; anything else is a bug). */
  error?: Error;
  /** run: it runs although its key may be cached (`--force`): nothing may serve it instead. */
  forced?: boolean;
  /** Problems found in a cached result of this key, which is therefore a miss. */
  damage: string[];
  /**
   * submit: the Slurm jobs still computing its upstream. Its key depends on their outputs, so the
   * job submitted now (to start after them) computes it when it starts.
   */
  after?: string[];
}

/** What a dependent needs to know about one upstream stage. */
export type Upstream =
  | { name: string; state: 'done'; tree: string }
  | { name: string; state: 'failed' | 'skipped' | 'pending' }
  /** Being computed by a Slurm job that was submitted and has not ended (a real run on Slurm). */
  | { name: string; state: 'submitted'; jobId: string };

/** The only ways the plan touches the world. */
export interface PlanLookups {
  /** The stage's key description and key, given its upstream output trees; throws when a dep is unreadable. */
  describe(
    stage: ResolvedStage,
    upstreamTrees: ReadonlyMap<string, string>,
  ): Promise<{ description: KeyDescription; key: string }>;
  /** The intact cached record of `key`, or undefined; each problem found is passed to onDamage. */
  serve(key: string, onDamage: (message: string) => void): Promise<ServedRecord | undefined>;
}

export interface PlanOptions {
  /** Stages to run even when cached. */
  force: ReadonlySet<string>;
  executorOf(stage: ResolvedStage): ExecutorName;
}

/** Decides one stage, given what its upstream stages did. */
export async function planStage(
  stage: ResolvedStage,
  upstream: readonly Upstream[],
  lookups: PlanLookups,
  options: PlanOptions,
): Promise<Step> {
  const name = stage.name;
  const executor = options.executorOf(stage);
  const blocked = upstream.find((u) => u.state === 'failed' || u.state === 'skipped');
  if (blocked) {
    const reason = `upstream "${blocked.name}" ${blocked.state === 'failed' ? 'failed' : 'was skipped'}`;
    return { stage: name, executor, damage: [], action: 'skip', reason };
  }
  const pending = upstream.find((u) => u.state === 'pending');
  const submitted = upstream.flatMap((u) => (u.state === 'submitted' ? [u] : []));
  if (!pending && submitted.length > 0 && executor === 'slurm')
    return {
      stage: name,
      executor,
      damage: [],
      action: 'submit',
      reason: `after Slurm job${submitted.length === 1 ? '' : 's'} ${submitted.map((u) => u.jobId).join(', ')}`,
      after: submitted.map((u) => u.jobId),
      ...(options.force.has(name) ? { forced: true } : {}),
    };
  // A stage that runs here waits for its upstream's output (the scheduler never asks this).
  const waiting = pending ?? submitted[0];
  if (waiting)
    return {
      stage: name,
      executor,
      damage: [],
      action: 'would-run',
      reason: `upstream "${waiting.name}" would run`,
    };

  const trees = new Map(upstream.map((u) => [u.name, (u as { tree: string }).tree]));
  let keyed: { description: KeyDescription; key: string };
  try {
    keyed = await lookups.describe(stage, trees);
  } catch (error) {
    const reason = (error as Error).message;
    return { stage: name, executor, damage: [], action: 'fail', reason, error: error as Error };
  }
  const { key, description } = keyed;
  if (options.force.has(name))
    return {
      stage: name,
      executor,
      damage: [],
      key,
      description,
      action: 'run',
      reason: 'forced',
      forced: true,
    };
  const damage: string[] = [];
  const record = await lookups.serve(key, (message) => damage.push(message));
  if (record) return { stage: name, executor, damage, key, description, action: 'serve', reason: '', record };
  return { stage: name, executor, damage, key, description, action: 'run', reason: 'not in the cache' };
}

/**
 * Plans `selected` (topological order, closed under upstream) without running anything: a stage
 * that would run leaves its dependents unkeyable (`would-run`), since its output is not known yet.
 */
export async function plan(
  stages: ReadonlyMap<string, ResolvedStage>,
  upstreamOf: ReadonlyMap<string, readonly string[]>,
  selected: readonly string[],
  lookups: PlanLookups,
  options: PlanOptions,
): Promise<Step[]> {
  const done = new Map<string, Step>();
  for (const name of selected) {
    const upstream = (upstreamOf.get(name) ?? []).map((u) => upstreamOfStep(done.get(u)!));
    done.set(name, await planStage(stages.get(name)!, upstream, lookups, options));
  }
  return selected.map((name) => done.get(name)!);
}

/** How a planned (not executed) step looks to its dependents. */
export function upstreamOfStep(step: Step): Upstream {
  switch (step.action) {
    case 'serve':
      return { name: step.stage, state: 'done', tree: step.record!.output.tree };
    case 'fail':
      return { name: step.stage, state: 'failed' };
    case 'skip':
      return { name: step.stage, state: 'skipped' };
    default:
      return { name: step.stage, state: 'pending' };
  }
}
