// The job a stage becomes on Slurm: its sbatch arguments, the script it runs (this same binary on
// exactly that one stage, with the local executor) and, inside the job, what the run record says
// about where it ran.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SlurmJobInfo } from '../../cache/record.ts';
import type { CacheStore } from '../../cache/store.ts';
import { EXIT_STAGE_FAILED, PipeError } from '../../errors.ts';
import type { ResolvedStage, StageResources } from '../../pipeline/types.ts';

/** What the head needs to write a job that recomputes exactly what it resolved. */
export interface SlurmContext {
  /** Absolute path of the experiment or pipeline file. */
  specFile: string;
  /** The run's `--set` overrides, as typed. */
  sets: readonly string[];
  /** Working folder of the job (the head's). */
  cwd: string;
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

/** bin/gpt2o-pipe.js, found from this module (src/run/slurm/ in development, dist/ when bundled). */
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

export const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Writes the job script into `dir`; returns its path. */
export async function writeJobScript(
  dir: string,
  stage: ResolvedStage,
  key: string | undefined,
  command: readonly string[],
  cwd: string,
): Promise<string> {
  const script = join(dir, 'job.sh');
  await writeFile(
    script,
    [
      '#!/bin/sh',
      `# gpt2o-pipe: stage "${stage.name}", key ${key ?? 'computed by the job (its upstream ran in Slurm jobs)'}`,
      `cd ${quote(cwd)} || exit 1`,
      `GPT2O_SLURM_RESOURCES=${quote(JSON.stringify(stage.resources ?? {}))}`,
      'export GPT2O_SLURM_RESOURCES',
      `exec ${command.map(quote).join(' ')}`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return script;
}
