// Talking to Slurm: sbatch to submit, squeue and `scontrol show job` to ask how jobs are doing,
// scancel.
import { EXIT_STAGE_FAILED, PipeError } from '../../errors.ts';

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

export interface JobState {
  state: string;
  exitCode?: string;
  node?: string;
  reason?: string;
}

export async function exec(
  file: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  // child_process loads on first use: runs that submit nothing never pay for it.
  const { execFile } = await import('node:child_process');
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

export async function submit(args: string[], stage: string): Promise<string> {
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

/**
 * A job's state; undefined when Slurm cannot say right now (ask again). A run follows many jobs at
 * once: the followers that ask within BATCH_MS of each other share one `squeue -j ID,ID,…` call.
 * A job squeue shows as ended, or does not show, is asked about alone (`scontrol show job`: its
 * exit code and node, or that Slurm no longer knows it), once, when it ends.
 */
export async function jobState(jobId: string): Promise<JobState | undefined> {
  const queued = (await queuedStates(jobId))?.get(jobId);
  if (queued && !TERMINAL(queued.state)) return queued;
  return jobRecord(jobId);
}

const BATCH_MS = 50;
let batch: { ids: Set<string>; states: Promise<Map<string, JobState> | undefined> } | undefined;

/** The states of the jobs asked about in this batch; undefined when squeue failed. */
function queuedStates(jobId: string): Promise<Map<string, JobState> | undefined> {
  if (!batch) {
    const ids = new Set<string>();
    const states = new Promise((resolve) => setTimeout(resolve, BATCH_MS)).then(() => {
      batch = undefined;
      return squeueStates([...ids]);
    });
    batch = { ids, states };
  }
  batch.ids.add(jobId);
  return batch.states;
}

/** One squeue call for many jobs (`-t all`: ended ones too, while Slurm still lists them). */
async function squeueStates(ids: readonly string[]): Promise<Map<string, JobState> | undefined> {
  const result = await exec('squeue', ['-h', '-t', 'all', '-j', ids.join(','), '-o', '%i|%T|%N|%r']);
  if (result.code !== 0) return undefined;
  const states = new Map<string, JobState>();
  for (const line of result.stdout.split('\n')) {
    const [id, state, node, reason] = line.trim().split('|');
    if (id && state) states.set(id, { state, ...(node ? { node } : {}), ...(reason ? { reason } : {}) });
  }
  return states;
}

/** `scontrol show job -o ID` as a state; GONE when Slurm no longer knows the job. */
async function jobRecord(jobId: string): Promise<JobState | undefined> {
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

export const TERMINAL = (s: string) => s === 'COMPLETED' || s === 'GONE' || FAILED_STATES.has(s);
