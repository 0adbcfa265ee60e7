// The slurm executor: a stage runs as a Slurm job. The head (this process) takes no lock for it; it
// writes a job script into the cache's tmp/, submits it with sbatch, streams the job's log, polls
// `scontrol show job` and, when the job ends, serves the result the job committed to the shared cache.
// The job runs this same binary on exactly that one stage with the local executor (its upstream is
// already cached), so the stage's lock, atomic commit and record are the ordinary ones.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ageMsAsync, unownedIsAlive } from '../cache/liveness.ts';
import type { SlurmJobInfo } from '../cache/record.ts';
import { type CacheStore, type Damage, describeDamage } from '../cache/store.ts';
import { EXIT_INTERRUPTED, EXIT_STAGE_FAILED, PipeError } from '../errors.ts';
import type { ResolvedStage, StageResources } from '../spec/types.ts';
import type { Emit, StageOutcome } from './events.ts';

/** What the head needs to write a job that recomputes exactly what it resolved. */
export interface SlurmContext {
  /** Absolute path of the experiment or pipeline file. */
  specFile: string;
  /** The run's `--set` overrides, as typed. */
  sets: readonly string[];
  /** Working folder of the job (the head's). */
  cwd: string;
}

const TAIL_LINES = 40;
const POLL_FIRST_MS = 500;
const POLL_MAX_MS = 5000;
const FAILED_STATES = new Set([
  'FAILED',
  'TIMEOUT',
  'OUT_OF_MEMORY',
  'CANCELLED',
  'NODE_FAIL',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'REVOKED',
  'SPECIAL_EXIT',
]);

interface JobState {
  state: string;
  exitCode?: string;
  node?: string;
  reason?: string;
}

/** The `slurm` field of a run record, when this process runs inside a Slurm job. */
export function slurmJobInfo(env: NodeJS.ProcessEnv): { slurm: SlurmJobInfo } | Record<string, never> {
  const jobId = env.SLURM_JOB_ID;
  if (!jobId) return {};
  let resources: Record<string, unknown> = {};
  try {
    resources = JSON.parse(env.GPT2O_SLURM_RESOURCES ?? '{}');
  } catch {}
  return {
    slurm: {
      jobId,
      node: env.SLURMD_NODENAME ?? env.SLURM_JOB_NODELIST ?? 'unknown',
      ...(env.SLURM_CLUSTER_NAME ? { cluster: env.SLURM_CLUSTER_NAME } : {}),
      ...(env.SLURM_JOB_PARTITION ? { partition: env.SLURM_JOB_PARTITION } : {}),
      resources,
    },
  };
}

/** sbatch arguments for a stage's `resources:`. */
export function sbatchArgs(stage: ResolvedStage, logPattern: string): string[] {
  const r: StageResources = stage.resources ?? {};
  const args = ['--parsable', `--job-name=gpt2o-${stage.name}`, `--output=${logPattern}`];
  if (r.cpus !== undefined) args.push(`--cpus-per-task=${r.cpus}`);
  if (r.mem !== undefined) args.push(`--mem=${r.mem}`);
  if (r.gpus) args.push(`--gres=gpu:${r.gpus}`);
  if (r.time !== undefined) args.push(`--time=${r.time}`);
  if (r.partition !== undefined) args.push(`--partition=${r.partition}`);
  args.push(...(r.sbatch ?? []));
  return args;
}

/** The command the job runs: this binary, on this one stage, with the local executor. */
export function jobCommand(stage: string, store: CacheStore, ctx: SlurmContext, forced: boolean): string[] {
  return [
    process.execPath,
    cliEntry(),
    'run',
    ctx.specFile,
    stage,
    ...ctx.sets.flatMap((s) => ['--set', s]),
    '--cache',
    resolve(store.root),
    '--executor',
    'local',
    '--jobs',
    '1',
    // Forces every stage local (no job submits again) and leaves refs/ and runs/ to the head.
    '--stage-exec',
    ...(forced ? ['--force', stage] : []),
  ];
}

/** bin/gpt2o-pipe.js, found from this module (src/run/ in development, dist/ when bundled). */
function cliEntry(): string {
  if (process.env.GPT2O_BIN) return process.env.GPT2O_BIN;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'bin', 'gpt2o-pipe.js');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new PipeError('cannot find bin/gpt2o-pipe.js for the Slurm job', {
    code: 'E_SLURM_SUBMIT',
    hint: 'set GPT2O_BIN to the gpt2o-pipe entry point',
    exitCode: EXIT_STAGE_FAILED,
  });
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

export interface SlurmStageRequest {
  stage: ResolvedStage;
  key: string;
  forced: boolean;
  store: CacheStore;
  ctx: SlurmContext;
  signal: AbortSignal;
  emit: Emit;
}

/** Runs one stage as a Slurm job and waits for it; never throws (failures are outcomes). */
export async function runOnSlurm(req: SlurmStageRequest): Promise<StageOutcome> {
  const { stage, key, store, emit } = req;
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
    const logsDir = store.layout.dir('logs');
    await mkdir(logsDir, { recursive: true });
    const logPattern = store.layout.slurmLog(stage.name, '%j');
    const script = join(work, 'job.sh');
    const command = jobCommand(stage.name, store, req.ctx, req.forced);
    await writeFile(
      script,
      [
        '#!/bin/sh',
        `# gpt2o-pipe: stage "${stage.name}", key ${key}`,
        `cd ${quote(req.ctx.cwd)} || exit 1`,
        `GPT2O_SLURM_RESOURCES=${quote(JSON.stringify(stage.resources ?? {}))}`,
        'export GPT2O_SLURM_RESOURCES',
        `exec ${command.map(quote).join(' ')}`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    if (req.signal.aborted) return failed(interrupted(stage.name));
    // One job per key, also across runs: another run (e.g. a sweep over experiments sharing this
    // stage) may have submitted it already; then this run follows that job instead.
    const claim = await claimSubmission(store, key, req.signal);
    if (claim.cached) {
      return { name: stage.name, status: 'cached', key, seconds: 0, tree: claim.cached.output.tree };
    }
    let jobId: string;
    let logPath: string;
    if (claim.marker) {
      try {
        jobId = await submit([...sbatchArgs(stage, logPattern), script], stage.name);
      } catch (error) {
        await rm(claim.marker, { recursive: true, force: true });
        throw error;
      }
      logPath = logPattern.replace('%j', jobId);
      await writeFile(join(claim.marker, 'job.json'), JSON.stringify({ jobId, logPath }));
      releaseMarker = claim.marker;
      emit({ type: 'stage-start', stage: stage.name, key });
      emit({ type: 'stage-log', stage: stage.name, line: `submitted as Slurm job ${jobId}` });
    } else {
      ({ jobId, logPath } = claim.job!);
      emit({ type: 'stage-start', stage: stage.name, key });
      emit({
        type: 'stage-wait',
        stage: stage.name,
        key,
        holder: `Slurm job ${jobId} (submitted by another run)`,
      });
    }
    const { state, lines } = await followJob(jobId, logPath, req, claim.marker !== undefined);
    const logTail = lines.slice(-TAIL_LINES).join('\n');
    if (req.signal.aborted) return failed(interrupted(stage.name), { logPath, logTail });
    if (state.state === 'COMPLETED' || state.state === 'GONE') {
      const record = await committedRecord(store, key, (damage) =>
        emit({ type: 'stage-warning', stage: stage.name, message: describeDamage(damage) }),
      );
      if (!record) {
        const what = state.state === 'GONE' ? 'is no longer known to Slurm' : 'completed';
        return failed(
          new PipeError(
            `stage "${stage.name}": Slurm job ${jobId} ${what} but left no result for key ${key.slice(0, 12)} in the cache`,
            {
              code: 'E_SLURM_NO_RESULT',
              stage: stage.name,
              exitCode: EXIT_STAGE_FAILED,
              hint: `the job must see the same project files and cache (${store.root}) as this machine; its log: ${logPath}`,
            },
          ),
          { logPath, logTail },
        );
      }
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
    return failed(
      new PipeError(`stage "${stage.name}": Slurm job ${jobId} ${state.state}${exit}${where}`, {
        code: 'E_SLURM_JOB',
        stage: stage.name,
        exitCode: EXIT_STAGE_FAILED,
        hint:
          state.state === 'OUT_OF_MEMORY'
            ? 'raise resources.mem of the stage'
            : state.state === 'TIMEOUT'
              ? 'raise resources.time of the stage'
              : `full job log: ${logPath}`,
      }),
      { logPath, logTail },
    );
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

/**
 * Claims the submission of `key`: `locks/<key>.slurm/` is created atomically (mkdir) by the run
 * that submits, which writes the job id into it and removes it when the job has ended. A run that
 * finds it follows that job. A marker whose job has ended (its run died) is stale: removed, and the
 * result is either in the cache by now or the claim is made again.
 */
async function claimSubmission(
  store: CacheStore,
  key: string,
  signal: AbortSignal,
): Promise<{
  marker?: string;
  job?: { jobId: string; logPath: string };
  cached?: { output: { tree: string } };
}> {
  const marker = store.layout.slurmClaim(key);
  await mkdir(dirname(marker), { recursive: true });
  for (;;) {
    try {
      await mkdir(marker);
      return { marker };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (signal.aborted)
      throw new PipeError('interrupted', { code: 'E_INTERRUPTED', exitCode: EXIT_INTERRUPTED });
    const job = await readFile(join(marker, 'job.json'), 'utf8')
      .then((text) => JSON.parse(text) as { jobId: string; logPath: string })
      .catch(() => undefined);
    if (job) {
      const state = await jobState(job.jobId);
      if (!state || !TERMINAL(state.state)) return { job };
    } else {
      // Being submitted right now, or its run died between mkdir and writing job.json.
      const age = (await ageMsAsync(marker)) ?? 0;
      if (unownedIsAlive(age)) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
    }
    await rm(marker, { recursive: true, force: true });
    const record = await store.serve(key);
    if (record) return { cached: record };
  }
}

/** How long the head keeps looking for a finished job's record (NFS caches directory lookups). */
const RECORD_GRACE_MS = 10_000;

/** The record the job committed; a shared file system may show it to this machine a little later. */
async function committedRecord(store: CacheStore, key: string, onDamage: (damage: Damage) => void) {
  const deadline = Date.now() + RECORD_GRACE_MS;
  for (;;) {
    const record = await store.serve(key, onDamage);
    if (record || Date.now() > deadline) return record;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function interrupted(stage: string): PipeError {
  return new PipeError(`stage "${stage}" was interrupted (its Slurm job was cancelled)`, {
    code: 'E_INTERRUPTED',
    stage,
    exitCode: EXIT_INTERRUPTED,
  });
}

function exec(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(file, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 127) : 0;
      done({
        code,
        stdout: String(stdout),
        stderr: String(stderr || (error && !stdout ? error.message : '')),
      });
    });
  });
}

async function submit(args: string[], stage: string): Promise<string> {
  const result = await exec('sbatch', args);
  const id = result.stdout.trim().split(';')[0] ?? '';
  if (result.code !== 0 || !/^\d+(_\d+)?$/.test(id)) {
    throw new PipeError(`stage "${stage}": sbatch failed: ${result.stderr.trim() || `exit ${result.code}`}`, {
      code: 'E_SLURM_SUBMIT',
      stage,
      exitCode: EXIT_STAGE_FAILED,
      hint:
        result.code === 127
          ? 'sbatch is not on PATH: run on a Slurm login node, or use --executor local'
          : "check the stage's resources: (partition, mem, time) and `sinfo`",
    });
  }
  return id;
}

/** `scontrol show job -o ID` as a state; GONE when Slurm no longer knows the job. */
async function jobState(jobId: string): Promise<JobState | undefined> {
  const result = await exec('scontrol', ['show', 'job', '-o', jobId]);
  if (result.code !== 0) {
    if (/invalid job id/i.test(result.stderr)) return { state: 'GONE' };
    return undefined; // the controller may be busy or restarting: ask again
  }
  const field = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(result.stdout)?.[1];
  const state = field('JobState');
  if (!state) return undefined;
  return { state, exitCode: field('ExitCode'), node: field('NodeList'), reason: field('Reason') };
}

const TERMINAL = (s: string) => s === 'COMPLETED' || s === 'GONE' || FAILED_STATES.has(s);

/** Polls the job until it ends, emitting its log lines as they come; cancels it on abort. */
async function followJob(
  jobId: string,
  logPath: string,
  req: SlurmStageRequest,
  /** False for a job another run submitted: on Ctrl-C this run stops waiting but leaves it alone. */
  own = true,
): Promise<{ state: JobState; lines: string[] }> {
  const lines: string[] = [];
  let offset = 0;
  let partial = '';
  const drain = async (final: boolean) => {
    const handle = await open(logPath, 'r').catch(() => undefined);
    if (!handle) return;
    try {
      const { size } = await handle.stat();
      if (size > offset) {
        const buffer = Buffer.alloc(size - offset);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
        offset += bytesRead;
        const parts = (partial + buffer.subarray(0, bytesRead).toString('utf8')).split(/\r?\n|\r/);
        partial = parts.pop() ?? '';
        for (const line of parts) emitLine(line);
      }
      if (final && partial) {
        emitLine(partial);
        partial = '';
      }
    } finally {
      await handle.close();
    }
  };
  const emitLine = (line: string) => {
    lines.push(line);
    if (lines.length > TAIL_LINES * 4) lines.splice(0, lines.length - TAIL_LINES);
    req.emit({ type: 'stage-log', stage: req.stage.name, line });
  };

  let cancelled = false;
  let cancelDeadline = 0;
  let wake: (() => void) | undefined;
  const onAbort = () => {
    wake?.();
  };
  req.signal.addEventListener('abort', onAbort, { once: true });
  try {
    let delay = POLL_FIRST_MS;
    for (;;) {
      if (req.signal.aborted && !own) return { state: { state: 'CANCELLED' }, lines };
      if (req.signal.aborted && !cancelled) {
        cancelled = true;
        cancelDeadline = Date.now() + 15_000;
        await exec('scancel', [jobId]);
        delay = POLL_FIRST_MS;
      }
      const state = await jobState(jobId);
      await drain(false);
      if (state && TERMINAL(state.state)) {
        await drain(true);
        return { state, lines };
      }
      if (cancelled && Date.now() > cancelDeadline) return { state: state ?? { state: 'CANCELLED' }, lines };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      delay = Math.min(POLL_MAX_MS, Math.round(delay * 1.5));
    }
  } finally {
    req.signal.removeEventListener('abort', onAbort);
  }
}
