// Section 1b: cold builds use both cores. The same 1,000 independent stages (+ a join) are built
// from scratch with --jobs 1 and with --jobs 2, each in a fresh project with its own cache,
// alternating, and the speed-up of the medians is graded: the commands are tiny, so what it measures
// is whether the engine's own work per stage (keying, storing, recording) leaves the second core idle.
//
// NOTE: on tmpfs (/dev/shm) where there is one, as the big-tree section. Each round deletes some
// 13,000 files, and on an ext4 file system every file made in the next minutes first scans the
// inodes recently deleted in its block group: measured with perf, 30-40 % of a cold build's CPU on
// this machine's /tmp went there, whichever --jobs. That is the file system's cost, not ours.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Check, grade, ratio } from './checks.ts';
import { toPipelineYaml, widePipeline } from './pipelines.ts';
import { type Sample, summarize, timeCommandOnce } from './timing.ts';
import { pipeCommand } from './tools.ts';

export interface ColdJobsResult {
  stages: number;
  /** Where the projects lived (tmpfs when there is one). */
  folder: string;
  jobs1: Sample;
  jobs2: Sample;
  /** jobs1 median / jobs2 median. */
  speedup: number | null;
  /** The same builds by the --baseline build, interleaved; null without --baseline. */
  baseline: { jobs1: Sample; jobs2: Sample } | null;
}

export const COLD_JOBS_TARGET = 1.8;

/**
 * Times `repeat` cold builds with each --jobs value (at most 3: one build takes seconds), and the
 * same with the baseline build of gpt2o-pipe when there is one.
 */
export function benchColdJobs(
  root: string,
  repeat: number,
  log: (line: string) => void,
  baseline?: string,
): ColdJobsResult {
  const shm = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/gpt2o-pipe-bench-cold-') : undefined;
  try {
    return timeColdJobs(shm ?? root, repeat, log, baseline);
  } finally {
    if (shm) rmSync(shm, { recursive: true, force: true });
  }
}

function timeColdJobs(
  root: string,
  repeat: number,
  log: (line: string) => void,
  baseline: string | undefined,
): ColdJobsResult {
  const shape = widePipeline(1000);
  const yaml = toPipelineYaml(shape);
  const rounds = Math.min(repeat, 3);
  const builds = baseline ? ([undefined, baseline] as const) : ([undefined] as const);
  const times = builds.map(() => ({ '1': [] as number[], '2': [] as number[] }));
  for (let i = 0; i < rounds; i++) {
    builds.forEach((bin, b) => {
      for (const jobs of ['1', '2'] as const) {
        const who = bin ? 'baseline, ' : '';
        log(`cold build of ${shape.steps.length} stages, ${who}--jobs ${jobs} (${i + 1}/${rounds})`);
        const dir = join(root, `cold-jobs-${b}-${jobs}-${i}`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'pipeline.yaml'), yaml);
        times[b]![jobs].push(timeCommandOnce(pipeCommand('run', dir, ['--jobs', jobs], bin)));
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
  const jobs1 = summarize(times[0]!['1']);
  const jobs2 = summarize(times[0]!['2']);
  return {
    stages: shape.steps.length,
    folder: root,
    jobs1,
    jobs2,
    speedup: ratio(jobs1.medianMs, jobs2.medianMs),
    baseline: times[1] ? { jobs1: summarize(times[1]['1']), jobs2: summarize(times[1]['2']) } : null,
  };
}

export function coldJobsChecks(result: ColdJobsResult): Check[] {
  return [
    grade(
      {
        id: 'cold.wide1000.jobs2_speedup',
        label: 'cold build, --jobs 1 / --jobs 2',
        op: '>=',
        target: COLD_JOBS_TARGET,
        unit: 'x',
      },
      result.speedup,
      'not measured',
    ),
  ];
}
