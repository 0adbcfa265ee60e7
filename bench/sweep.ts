// Section 7: a sweep of the demo (4 learning rates × 2 context lengths) as one `run --sweep`,
// against the same 8 experiments run one after another with `--set`, each side on a fresh copy of
// the demo project with a fresh cache. Reports the wall time and the number of stage executions
// of each side (outcomes "ran" in `run --json`; a key shared between variants counts once).
import { cpSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchOptions } from './args.ts';
import { runCommand } from './timing.ts';
import { pipeCommand } from './tools.ts';

export const SWEEP_LRS = ['6e-4', '1.2e-3', '1.8e-3', '3e-3'];
export const SWEEP_CONTEXTS = ['64', '128'];

export interface SweepSide {
  wallMs: number;
  /** Stage executions (outcomes "ran"). */
  executions: number;
  /** Stage outcomes served from the cache or shared with another variant. */
  cached: number;
}

export interface SweepBenchResult {
  variants: number;
  /** train.max_steps of every variant (10 with --small, else the demo's 40). */
  maxSteps: number;
  jobs: number;
  sweep: SweepSide;
  sequential: SweepSide;
}

/** Runs both sides once (each trains 8 models: this section takes minutes, not seconds). */
export function benchSweep(
  options: BenchOptions,
  root: string,
  log: (line: string) => void,
): SweepBenchResult {
  const maxSteps = options.small ? 10 : 40;
  const jobs = availableParallelism();
  const base = ['--set', `train.max_steps=${maxSteps}`, '--jobs', String(jobs), '--json'];

  const sweepDir = copyDemo(join(root, 'sweep', 'one-run'));
  log(`sweep: ${SWEEP_LRS.length * SWEEP_CONTEXTS.length} variants of the demo in one run`);
  const sweepArgs = [
    ...base,
    '--sweep',
    `train.max_lr=${SWEEP_LRS.join(',')}`,
    '--sweep',
    `train.context_length=${SWEEP_CONTEXTS.join(',')}`,
  ];
  const sweep = timed(() => {
    const json = JSON.parse(runCommand(demoRun(sweepDir, sweepArgs)).stdout) as {
      executions: number;
      variants: { stages: { status: string }[] }[];
    };
    return { executions: json.executions, cached: countCached(json.variants.flatMap((v) => v.stages)) };
  });

  const seqDir = copyDemo(join(root, 'sweep', 'one-by-one'));
  log('sweep: the same experiments one after another');
  const sequential = timed(() => {
    const stages: { status: string }[] = [];
    for (const lr of SWEEP_LRS)
      for (const ctx of SWEEP_CONTEXTS) {
        const args = [...base, '--set', `train.max_lr=${lr}`, '--set', `train.context_length=${ctx}`];
        stages.push(...(JSON.parse(runCommand(demoRun(seqDir, args)).stdout).stages as { status: string }[]));
      }
    return { executions: stages.filter((s) => s.status === 'ran').length, cached: countCached(stages) };
  });
  return { variants: SWEEP_LRS.length * SWEEP_CONTEXTS.length, maxSteps, jobs, sweep, sequential };
}

function timed(work: () => { executions: number; cached: number }): SweepSide {
  const start = performance.now();
  const counts = work();
  return { wallMs: performance.now() - start, ...counts };
}

function countCached(stages: { status: string }[]): number {
  return stages.filter((s) => s.status === 'cached').length;
}

/** A fresh copy of the repository's pipeline.yaml and experiments/ (its cache/ and runs/ start empty). */
function copyDemo(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const repo = new URL('..', import.meta.url).pathname;
  cpSync(join(repo, 'pipeline.yaml'), join(dir, 'pipeline.yaml'));
  cpSync(join(repo, 'experiments'), join(dir, 'experiments'), { recursive: true });
  return dir;
}

function demoRun(cwd: string, args: string[]) {
  const command = pipeCommand('run', cwd, args);
  // pipeCommand names pipeline.yaml; the demo is an experiment of it.
  return { ...command, args: command.args.map((a) => (a === 'pipeline.yaml' ? 'experiments/demo.yaml' : a)) };
}
