// The slurm executor: a stage runs as a Slurm job. The head (this process) takes no lock for it; it
// writes a job script into the cache's tmp/ (job.ts), claims the key (claim.ts), submits it with
// sbatch (scontrol.ts), streams the job's log and polls its state (follow.ts) and, when the job
// ends, serves the result the job committed to the shared cache. The job runs this same binary on
// exactly that one stage with the local executor (its upstream is already cached), so the stage's
// lock, atomic commit and record are the ordinary ones.
//
// A stage whose upstream is still being computed by Slurm jobs is submitted at once too, to start
// after them (`--dependency=afterok:…`, `--kill-on-invalid-dep=yes`: Slurm cancels it when one of
// them fails). Its key depends on their outputs, so the job computes it when it starts; the head
// learns it only when the job has ended, from the then finished upstream (`ahead.settle`).
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeDamage } from '../../cache/damage.ts';
import type { CacheStore } from '../../cache/store.ts';
import { EXIT_INTERRUPTED, EXIT_STAGE_FAILED, PipeError } from '../../errors.ts';
import type { ResolvedStage } from '../../pipeline/types.ts';
import type { Emit, StageOutcome } from '../events.ts';
import { claimSubmission, committedRecord } from './claim.ts';
import { followJob, TAIL_LINES } from './follow.ts';
import { jobCommand, type SlurmContext, sbatchArgs, writeJobScript } from './job.ts';
import { type JobState, submit } from './scontrol.ts';

export { type SlurmContext, sbatchArgs, slurmJobInfo } from './job.ts';

export interface SlurmStageRequest {
  stage: ResolvedStage;
  /** Unset for a job submitted ahead (`ahead`): the job computes the key. */
  key?: string;
  forced: boolean;
  store: CacheStore;
  ctx: SlurmContext;
  signal: AbortSignal;
  emit: Emit;
  /** Submitted before its key is known: the upstream jobs it starts after, and, once they have
   * ended, the stage's key or the outcome it has without running (upstream failed). */
  ahead?: { after: readonly string[]; settle(): Promise<{ key: string } | StageOutcome> };
  /** Told the job id once the job is submitted (or joined): dependents are submitted after it. */
  onSubmitted?(jobId: string): void;
}

/** Runs one stage as a Slurm job and waits for it; never throws (failures are outcomes). */
export async function runOnSlurm(req: SlurmStageRequest): Promise<StageOutcome> {
  const { stage, store } = req;
  let key = req.key;
  const started = Date.now();
  const failed = (error: Error, extra: Partial<StageOutcome> = {}): StageOutcome => ({
    name: stage.name,
    status: 'failed',
    key,
    seconds: (Date.now() - started) / 1000,
    error,
    ...extra,
  });
  let work: string | undefined;
  let releaseMarker: string | undefined;
  try {
    work = await store.makeTmpDir(`slurm-${stage.name}`);
    await mkdir(store.layout.dir('logs'), { recursive: true });
    const command = jobCommand(stage.name, store, req.ctx, req.forced);
    const script = await writeJobScript(work, stage, key, command, req.ctx.cwd);
    if (req.signal.aborted) return failed(interrupted(stage.name));
    // One job per key, also across runs: another run (e.g. a sweep over experiments sharing this
    // stage) may have submitted it already; then this run follows that job instead. A job
    // submitted ahead has no key to claim: it takes the key's ordinary lock when it starts, so
    // it waits for a run computing that key and is then served its result, and never runs it twice.
    const claim = key !== undefined ? await claimSubmission(store, key, req.signal) : {};
    if (claim.cached)
      return { name: stage.name, status: 'cached', key, seconds: 0, tree: claim.cached.output.tree };
    const job = await submitOrJoin(req, claim, script);
    releaseMarker = claim.marker;
    req.onSubmitted?.(job.jobId);
    const follow = { stage: stage.name, signal: req.signal, emit: req.emit };
    const own = claim.marker !== undefined || key === undefined;
    const { state, lines } = await followJob(job.jobId, job.logPath, follow, own);
    const logTail = lines.slice(-TAIL_LINES).join('\n');
    if (req.signal.aborted) return failed(interrupted(stage.name), { logPath: job.logPath, logTail });
    if (req.ahead) {
      const settled = await req.ahead.settle();
      if ('status' in settled) return settled;
      key = settled.key;
    }
    const outcome = await finishedOutcome(req, key!, job, state, started);
    return outcome instanceof PipeError ? failed(outcome, { logPath: job.logPath, logTail }) : outcome;
  } catch (error) {
    return failed(
      error instanceof PipeError
        ? error
        : new PipeError(`stage "${stage.name}": Slurm: ${(error as Error).message}`, {
            code: 'E_SLURM',
            stage: stage.name,
            exitCode: EXIT_STAGE_FAILED,
            cause: error,
          }),
    );
  } finally {
    if (releaseMarker) await rm(releaseMarker, { recursive: true, force: true }).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

interface SubmittedJob {
  jobId: string;
  logPath: string;
}

/** Submits the job when this run holds the claim, else joins the job another run submitted. */
async function submitOrJoin(
  req: SlurmStageRequest,
  claim: { marker?: string; job?: SubmittedJob },
  script: string,
): Promise<SubmittedJob> {
  const { stage, key, store, emit } = req;
  const keyed = key !== undefined ? { key } : {};
  if (claim.job && key !== undefined) {
    const job = claim.job;
    emit({ type: 'stage-start', stage: stage.name, key });
    emit({
      type: 'stage-wait',
      stage: stage.name,
      key,
      holder: `Slurm job ${job.jobId} (submitted by another run)`,
    });
    return job;
  }
  const logPattern = store.layout.slurmLog(stage.name, '%j');
  const after = req.ahead?.after ?? [];
  const dependency =
    after.length > 0 ? [`--dependency=afterok:${after.join(':')}`, '--kill-on-invalid-dep=yes'] : [];
  let jobId: string;
  try {
    jobId = await submit([...sbatchArgs(stage, logPattern), ...dependency, script], stage.name);
  } catch (error) {
    if (claim.marker) await rm(claim.marker, { recursive: true, force: true });
    throw error;
  }
  const logPath = store.layout.slurmLog(stage.name, jobId);
  if (claim.marker) await writeFile(join(claim.marker, 'job.json'), JSON.stringify({ jobId, logPath }));
  emit({ type: 'stage-start', stage: stage.name, ...keyed });
  const waits =
    after.length > 0 ? `, to start after job${after.length === 1 ? '' : 's'} ${after.join(', ')}` : '';
  emit({ type: 'stage-log', stage: stage.name, line: `submitted as Slurm job ${jobId}${waits}` });
  return { jobId, logPath };
}

/** The outcome of a job that ended: its committed result, or why there is none. */
async function finishedOutcome(
  req: SlurmStageRequest,
  key: string,
  job: SubmittedJob,
  state: JobState,
  started: number,
): Promise<StageOutcome | PipeError> {
  const { stage, store, emit } = req;
  const { jobId, logPath } = job;
  if (state.state === 'COMPLETED' || state.state === 'GONE') {
    const record = await committedRecord(store, key, (damage) =>
      emit({ type: 'stage-warning', stage: stage.name, message: describeDamage(damage) }),
    );
    if (!record) {
      const what = state.state === 'GONE' ? 'is no longer known to Slurm' : 'completed';
      return new PipeError(
        `stage "${stage.name}": Slurm job ${jobId} ${what} but left no result for key ${key.slice(0, 12)} in the cache`,
        {
          code: 'E_SLURM_NO_RESULT',
          stage: stage.name,
          exitCode: EXIT_STAGE_FAILED,
          hint: `the job must see the same project files and cache (${store.root}) as this machine; its log: ${logPath}`,
        },
      );
    }
    // A job that found the key cached when it started (committed meanwhile by another run, or an
    // upstream that reproduced its old output) ran nothing: its record names another job or none.
    if (record.slurm?.jobId !== jobId)
      return { name: stage.name, status: 'cached', key, seconds: 0, tree: record.output.tree };
    return {
      name: stage.name,
      status: 'ran',
      key,
      seconds: (Date.now() - started) / 1000,
      tree: record.output.tree,
      logPath: store.layout.log(key),
      logTail: record.logTail,
    };
  }
  const where = state.node && state.node !== '(null)' ? ` on ${state.node}` : '';
  const exit = state.exitCode ? ` (exit ${state.exitCode})` : '';
  return new PipeError(`stage "${stage.name}": Slurm job ${jobId} ${state.state}${exit}${where}`, {
    code: 'E_SLURM_JOB',
    stage: stage.name,
    exitCode: EXIT_STAGE_FAILED,
    hint:
      state.state === 'OUT_OF_MEMORY'
        ? 'raise resources.mem of the stage'
        : state.state === 'TIMEOUT'
          ? 'raise resources.time of the stage'
          : `full job log: ${logPath}`,
  });
}

function interrupted(stage: string): PipeError {
  return new PipeError(`stage "${stage}" was interrupted (its Slurm job was cancelled)`, {
    code: 'E_INTERRUPTED',
    stage,
    exitCode: EXIT_INTERRUPTED,
  });
}
