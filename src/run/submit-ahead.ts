// A stage on Slurm whose upstream is still being computed by Slurm jobs is submitted at once, to
// start after them; its job computes the key when it starts (slurm/index.ts). In a sweep, the
// variants whose stage would be the same job submit it once (submissionFingerprint).
import { describeStage, keyOf } from '../cache/key.ts';
import type { StageOutcome } from './events.ts';
import type { Step, Upstream } from './plan.ts';
import type { RunOptions } from './scheduler.ts';
import { asShared } from './shared-outcome.ts';
import { runOnSlurm } from './slurm/index.ts';

/** Slurm jobs a sweep submitted before their keys were known, by submission fingerprint. */
export type SharedSubmissions = Map<
  string,
  { variant: string; job: Promise<string | undefined>; outcome: Promise<StageOutcome> }
>;

export interface AheadRequest {
  /** A `submit` step. */
  step: Step;
  upstream: readonly Upstream[];
  options: RunOptions;
  /** Aborted when a failure stops the run (not keep-going): nothing new is submitted. */
  stopSignal: AbortSignal;
  /** Once the upstream has ended: the stage's key, or the outcome it has without running. */
  settle(): Promise<{ key: string } | StageOutcome>;
  /** Where the job id goes once known: this stage's dependents are submitted after it. */
  job: { job: Promise<string | undefined>; announce(jobId: string | undefined): void };
}

/** Submits the stage after its upstream jobs (once per sweep) and waits for its outcome. */
export async function submitAhead(req: AheadRequest): Promise<StageOutcome> {
  const { step, options } = req;
  const name = step.stage;
  if (req.stopSignal.aborted) return { name, status: 'skipped', seconds: 0, reason: 'the run was stopped' };
  const sweep = options.sweep;
  if (!sweep) return submit(req);
  let fingerprint: string;
  try {
    fingerprint = await submissionFingerprint(req);
  } catch (error) {
    return { name, status: 'failed', seconds: 0, error: error as Error };
  }
  // NOTE: checked and set with no await in between, so two variants never both submit one job.
  const first = sweep.submitted.get(fingerprint);
  if (!first) {
    const outcome = submit(req);
    sweep.submitted.set(fingerprint, { variant: sweep.name, job: req.job.job, outcome });
    return outcome;
  }
  options.emit({ type: 'stage-wait', stage: name, holder: `the Slurm job of variant ${first.variant}` });
  void first.job.then((jobId) => jobId && req.job.announce(jobId));
  const theirs = await first.outcome;
  // Each variant judges its own upstream: a failed one skips the stage here too, in its own words.
  const own = await req.settle();
  if ('status' in own) return own;
  return asShared(theirs, name, first.variant);
}

function submit(req: AheadRequest): Promise<StageOutcome> {
  const { step, options } = req;
  const stage = options.graph.stages.get(step.stage)!;
  if (!options.slurm) {
    const error = new Error('internal: a stage runs on Slurm but the run has no Slurm context');
    return Promise.resolve({ name: stage.name, status: 'failed', seconds: 0, error });
  }
  return runOnSlurm({
    stage,
    forced: step.forced === true,
    store: options.store,
    ctx: options.slurm,
    signal: options.signal,
    emit: options.emit,
    ahead: { after: step.after ?? [], settle: req.settle },
    onSubmitted: req.job.announce,
  });
}

/**
 * What makes two variants' stage one job before its key is known: the key description it will
 * have (cmd or built-in and version, its params, its project deps' digests), with each upstream
 * still computed by a Slurm job entered by that job's id and each finished one by its output.
 * Same description and same upstream jobs give the same upstream outputs, hence the same key.
 * A fingerprint can never equal a real key: no real key has a job id as an input.
 */
async function submissionFingerprint(req: AheadRequest): Promise<string> {
  const { step, upstream, options } = req;
  const stage = options.graph.stages.get(step.stage)!;
  const trees = new Map(upstream.flatMap((u) => (u.state === 'done' ? [[u.name, u.tree] as const] : [])));
  const jobs = new Map(
    upstream.flatMap((u) => (u.state === 'submitted' ? [[u.name, u.jobId] as const] : [])),
  );
  const key = await keyOf(await describeStage(stage, options.graph, trees, options.store, jobs));
  return step.forced ? `${key} forced` : key;
}
