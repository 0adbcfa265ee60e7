// Runs the selected stages of a graph: each stage waits for its upstream, is planned (plan.ts), then
// is served from the cache or executed (under a per-key lock, execute-stage.ts) and committed. Independent stages run in
// parallel up to `jobs`. A failure stops new work (unless keepGoing) and skips the failed stage's
// dependents; finished stages stay cached.
//
// On Slurm, a stage waits only until its upstream is submitted: every job of the run goes into the
// queue at once, each dependent after the jobs it needs (submit-ahead.ts). Slurm jobs take no job
// slot: `jobs` bounds what runs here, and Slurm schedules the rest.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { acquireLock, tryLock } from '../cache/lock.ts';
import type { CacheStore } from '../cache/store.ts';
import type { Graph } from '../graph/build.ts';
import type { ExecutorName } from '../pipeline/types.ts';
import type { StageResources } from '../stage-api/index.ts';
import type { Emit, StageOutcome } from './events.ts';
import { executeStage } from './execute-stage.ts';
import { type PlanLookups, type PlanOptions, plan, planStage, type Step, type Upstream } from './plan.ts';
import { executorOf, storeLookups } from './plan-lookups.ts';
import { Semaphore } from './semaphore.ts';
import { asShared } from './shared-outcome.ts';
import { runOnSlurm, type SlurmContext } from './slurm/index.ts';
import { type SharedSubmissions, submitAhead } from './submit-ahead.ts';

export interface RunOptions {
  graph: Graph;
  store: CacheStore;
  /** Stage names to consider, in topological order, closed under upstream. */
  selected: readonly string[];
  jobs: number;
  /** What a built-in stage may use of the machine (StageContext.workers, threads, memoryBytes). */
  resources: StageResources;
  /** Stages to run even when cached. */
  force: ReadonlySet<string>;
  dryRun: boolean;
  keepGoing: boolean;
  signal: AbortSignal;
  emit: Emit;
  /** Executor of stages that name none (`run --executor`, else the spec's `executor:`); default local. */
  defaultExecutor?: ExecutorName;
  /** Run every stage here, whatever it names (inside a Slurm job: a job never submits another). */
  forceLocal?: boolean;
  /** What a Slurm job needs to recompute a stage; required when a stage runs on Slurm. */
  slurm?: SlurmContext;
  /**
   * Shared by the runs of one sweep (sweep.ts): the job slots, the keys already being computed and
   * the Slurm jobs already submitted ahead of their keys.
   */
  sweep?: { name: string; semaphore: Semaphore; running: SharedKeys; submitted: SharedSubmissions };
}

/**
 * Stage keys a sweep is computing, with the variant computing each and its Slurm job once
 * submitted (undefined when it runs here, or has ended): a key runs once per sweep.
 */
export type SharedKeys = Map<
  string,
  { variant: string; outcome: Promise<StageOutcome>; job: Promise<string | undefined> }
>;

/** A stage's Slurm job id once it is submitted; undefined once the stage has ended, or for none. */
interface JobAnnouncement {
  job: Promise<string | undefined>;
  announce(jobId: string | undefined): void;
}

export async function runStages(options: RunOptions): Promise<Map<string, StageOutcome>> {
  const lookups = storeLookups(options.graph, options.store);
  const planOptions: PlanOptions = { force: options.force, executorOf: (s) => executorOf(s, options) };
  if (options.dryRun) return dryRun(options, lookups, planOptions);
  const outcomes = new Map<string, Promise<StageOutcome>>();
  const semaphore = options.sweep?.semaphore ?? new Semaphore(Math.max(1, options.jobs));
  const stopping = new AbortController();
  const stop = () => stopping.abort();
  // One look for leftovers instead of one per served stage (the folder is absent in most caches).
  const mayHaveResume = existsSync(options.store.layout.dir('resume'));
  // An already aborted signal never fires 'abort': stop at once (nothing starts).
  if (options.signal.aborted) stop();
  else options.signal.addEventListener('abort', stop, { once: true });

  const ended = new Map<string, StageOutcome>();
  const jobs = new Map<string, JobAnnouncement>();
  /** An upstream stage as a stage on Slurm sees it: its job as soon as it is submitted, else its end. */
  const upstreamForSlurm = async (name: string): Promise<Upstream> => {
    const jobId = await jobs.get(name)!.job;
    const end = ended.get(name);
    if (jobId !== undefined && !end) return { name, state: 'submitted', jobId };
    return upstreamOfOutcome(end ?? (await outcomes.get(name)!));
  };
  for (const name of options.selected) {
    const ups = options.graph.upstream.get(name) ?? [];
    const stage = options.graph.stages.get(name)!;
    const job = announcement();
    jobs.set(name, job);
    const onSlurm = planOptions.executorOf(stage) === 'slurm';
    const outcome = (async () => {
      try {
        const upstream = onSlurm
          ? await Promise.all(ups.map(upstreamForSlurm))
          : (await Promise.all(ups.map((u) => outcomes.get(u)!))).map(upstreamOfOutcome);
        const step = await planStage(stage, upstream, lookups, planOptions);
        /** Once the upstream has ended, planned again: the key its job computed, or a skip. */
        const settle = async () => {
          const ends = await Promise.all(ups.map((u) => outcomes.get(u)!));
          const again = await planStage(stage, ends.map(upstreamOfOutcome), lookups, planOptions);
          return again.key !== undefined && (again.action === 'serve' || again.action === 'run')
            ? { key: again.key }
            : dryOutcome(again);
        };
        const result =
          step.action === 'submit'
            ? await submitAhead({ step, upstream, options, stopSignal: stopping.signal, settle, job })
            : await settleStep(step, () => Promise.all(ups.map((u) => outcomes.get(u)!)), options, {
                semaphore,
                stopSignal: stopping.signal,
                job,
                mayHaveResume,
              });
        if (result.status === 'failed' && !options.keepGoing) stopping.abort();
        options.emit({ type: 'stage-end', stage: name, outcome: result });
        ended.set(name, result);
        return result;
      } finally {
        job.announce(undefined);
      }
    })();
    outcomes.set(name, outcome);
  }
  const settled = await Promise.all(outcomes.values());
  options.signal.removeEventListener('abort', stop);
  return new Map(settled.map((o) => [o.name, o]));
}

/** `run --dry-run`: the whole plan, reported as outcomes; nothing is locked, written or removed. */
async function dryRun(options: RunOptions, lookups: PlanLookups, planOptions: PlanOptions) {
  const steps = await plan(
    options.graph.stages,
    options.graph.upstream,
    options.selected,
    lookups,
    planOptions,
  );
  const outcomes = new Map<string, StageOutcome>();
  for (const step of steps) {
    warnDamage(step, options.emit);
    const outcome = dryOutcome(step);
    options.emit({ type: 'stage-end', stage: step.stage, outcome });
    outcomes.set(step.stage, outcome);
  }
  return outcomes;
}

/** How a finished stage looks to its dependents. */
function upstreamOfOutcome(outcome: StageOutcome): Upstream {
  if (outcome.status === 'ran' || outcome.status === 'cached')
    return { name: outcome.name, state: 'done', tree: outcome.tree! };
  if (outcome.status === 'would-run') return { name: outcome.name, state: 'pending' };
  return { name: outcome.name, state: outcome.status };
}

/** A step as a dry run reports it. */
function dryOutcome(step: Step): StageOutcome {
  const { stage: name, key } = step;
  switch (step.action) {
    case 'serve':
      return { name, status: 'cached', key, seconds: 0, tree: step.record!.output.tree };
    case 'fail':
      return { name, status: 'failed', seconds: 0, error: step.error };
    case 'skip':
      return { name, status: 'skipped', seconds: 0, reason: step.reason };
    default:
      return { name, status: 'would-run', seconds: 0, key, reason: step.reason };
  }
}

/** A damaged cached result is a miss: say so once per stage (it is checked again under the lock). */
function warnDamage(step: Step, emit: Emit): void {
  if (step.damage.length > 0)
    emit({ type: 'stage-warning', stage: step.stage, message: `${step.damage[0]}; recomputing` });
}

/** What carrying out a step needs besides the run's options. */
interface StepContext {
  semaphore: Semaphore;
  /** Aborted when a failure stops the run (not keep-going): nothing new starts. */
  stopSignal: AbortSignal;
  job: JobAnnouncement;
  /** Whether cache/resume/ existed when the run began: one look instead of one per served stage. */
  mayHaveResume: boolean;
}

/** Carries out one step of a real run. */
async function settleStep(
  step: Step,
  upstream: () => Promise<StageOutcome[]>,
  options: RunOptions,
  context: StepContext,
): Promise<StageOutcome> {
  warnDamage(step, options.emit);
  if (step.action === 'serve') {
    if (context.mayHaveResume) await dropLeftoverResume(options.store, step.key!);
    return dryOutcome(step);
  }
  if (step.action !== 'run') return dryOutcome(step);
  const { stage: name, key } = step as Step & { key: string };
  const { stopSignal } = context;
  if (stopSignal.aborted) return { name, status: 'skipped', seconds: 0, key, reason: 'the run was stopped' };
  const sweep = options.sweep;
  if (!sweep) return executeStep(step, upstream, options, context);
  for (let waited = false; ; waited = true) {
    // NOTE: checked and set with no await in between, so two variants never both start one key.
    const first = sweep.running.get(key);
    if (!first) {
      const outcome = executeStep(step, upstream, options, context);
      sweep.running.set(key, { variant: sweep.name, outcome, job: context.job.job });
      return outcome;
    }
    if (!waited) {
      options.emit({
        type: 'stage-wait',
        stage: name,
        key,
        holder: `variant ${first.variant} of this sweep`,
      });
      // Its dependents on Slurm start after the job that computes it, whichever variant submitted it.
      void first.job.then((jobId) => jobId && context.job.announce(jobId));
    }
    const theirs = await first.outcome;
    // Their variant stopped (a failure of its own) before computing it: this one computes it.
    if (theirs.status === 'skipped' && !stopSignal.aborted) {
      if (sweep.running.get(key) === first) sweep.running.delete(key);
      continue;
    }
    return asShared(theirs, name, first.variant);
  }
}

/** Runs a step that must run: on Slurm (no job slot: Slurm schedules it), or here in a job slot. */
async function executeStep(
  step: Step,
  upstream: () => Promise<StageOutcome[]>,
  options: RunOptions,
  { semaphore, stopSignal, job }: StepContext,
): Promise<StageOutcome> {
  const { stage: name, key } = step as Step & { key: string };
  const stage = options.graph.stages.get(name)!;
  if (step.executor === 'slurm') {
    // The job takes the stage's lock and commits; the head only submits, follows and serves.
    if (!options.slurm) {
      const error = new Error('internal: a stage runs on Slurm but the run has no Slurm context');
      return { name, status: 'failed', seconds: 0, key, error };
    }
    return runOnSlurm({
      stage,
      key,
      forced: step.forced === true,
      store: options.store,
      ctx: options.slurm,
      signal: options.signal,
      emit: options.emit,
      onSubmitted: job.announce,
    });
  }
  await semaphore.acquire();
  try {
    if (stopSignal.aborted)
      return { name, status: 'skipped', seconds: 0, key, reason: 'the run was stopped' };
    return await runLocally(step as Step & { key: string }, await upstream(), options);
  } catch (error) {
    return { name, status: 'failed', seconds: 0, key, error: error as Error };
  } finally {
    semaphore.release();
  }
}

/** Runs a step here, under its key's lock; a key another process committed meanwhile is served. */
async function runLocally(step: Step & { key: string }, upstream: StageOutcome[], options: RunOptions) {
  const { stage: name, key } = step;
  const lock = await acquireLock(options.store.layout.lock(key), {
    signal: options.signal,
    onWait: ({ owner }) =>
      options.emit({
        type: 'stage-wait',
        stage: name,
        key,
        holder: owner ? `pid ${owner.pid} on ${owner.host}` : 'another process',
      }),
  });
  try {
    if (!step.forced) {
      const hit = await options.store.serve(key);
      if (hit) {
        await rm(options.store.layout.resume(key), { recursive: true, force: true });
        return { name, status: 'cached', key, seconds: 0, tree: hit.output.tree } satisfies StageOutcome;
      }
    }
    return await executeStage({
      stage: options.graph.stages.get(name)!,
      key,
      description: step.description!,
      trees: new Map(upstream.map((u) => [u.name, u.tree!])),
      graph: options.graph,
      store: options.store,
      signal: options.signal,
      emit: options.emit,
      resources: options.resources,
    });
  } finally {
    await lock.release();
  }
}

/**
 * A kill between a stage's commit and the removal of its resume folder leaves checkpoints of a key
 * that is already in the cache (for a full-size train, gigabytes). The next run that is served
 * that key removes them, under the key's lock so that a `--force` rerun still using them keeps
 * them; a lock held by a live process means exactly that, and the folder waits for the next run.
 */
async function dropLeftoverResume(store: CacheStore, key: string): Promise<void> {
  const dir = store.layout.resume(key);
  if (!existsSync(dir)) return;
  const lock = await tryLock(store.layout.lock(key));
  if (!lock) return;
  try {
    await rm(dir, { recursive: true, force: true });
  } finally {
    await lock.release();
  }
}

/** A promise of a stage's job id, resolved by whoever learns it first. */
function announcement(): JobAnnouncement {
  let announce!: (jobId: string | undefined) => void;
  const job = new Promise<string | undefined>((resolve) => {
    announce = resolve;
  });
  return { job, announce };
}
