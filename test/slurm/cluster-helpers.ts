// What the Slurm tests share: their own one-node cluster (start.sh / stop.sh) and reading its jobs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/workspace.ts';

const SCRIPTS = join(REPO, 'test', 'slurm');

/**
 * Starts a cluster of this test file's own (ports away from any other one on this machine) and
 * points SLURM_CONF at it; throws (the suite fails, never skips) when it does not come up.
 * Returns the function that stops it.
 */
export function startCluster(): () => void {
  const parent = mkdtempSync(join(tmpdir(), 'gpt2o-slurm-'));
  const dir = join(parent, 'cluster');
  const port = String(18000 + (process.pid % 1000) * 2);
  const conf = execFileSync(join(SCRIPTS, 'start.sh'), [dir], {
    encoding: 'utf8',
    env: { ...process.env, GPT2O_SLURM_PORT: port },
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  process.env.SLURM_CONF = conf;
  return () => {
    execFileSync(join(SCRIPTS, 'stop.sh'), [dir], { stdio: 'inherit' });
    rmSync(parent, { recursive: true, force: true });
  };
}

export function scontrolJob(id: string): string {
  return execFileSync('scontrol', ['show', 'job', '-o', id], { encoding: 'utf8' });
}

/**
 * The job's record once it has left the transient states: a cancelled job is COMPLETING while
 * slurmd still cleans up its processes, and reaches CANCELLED only after that (seconds, on a busy
 * machine).
 */
export async function settledJob(id: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  let record = scontrolJob(id);
  while (/JobState=(PENDING|CONFIGURING|RUNNING|COMPLETING)\b/.test(record) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    record = scontrolJob(id);
  }
  return record;
}

/** Every job this test's cluster knows (it keeps finished ones for MinJobAge, 600 s), one line each. */
export function allJobs(): string[] {
  return execFileSync('scontrol', ['show', 'job', '-o'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.startsWith('JobId='));
}

/** The records of the jobs named gpt2o-<stage> once there are `count` of them (waits up to 60 s). */
export async function jobsOf(stage: string, count: number): Promise<string[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const jobs = allJobs().filter((l) => l.includes(` JobName=gpt2o-${stage} `));
    if (jobs.length >= count || Date.now() > deadline) return jobs;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A field of a job record (`scontrol show job -o`). */
export function field(record: string, name: string): string | undefined {
  return new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(record)?.[1];
}
