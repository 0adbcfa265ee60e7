// Section 1: the cost of a fully cached pipeline. Each pipeline is built once from scratch by
// gpt2o-pipe, Snakemake and make (timed once, for information), then the no-op is timed; the ratios
// to the peers' no-ops are graded against the targets.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { type Check, grade, ratio } from './checks.ts';
import type { PipelineShape, ShapeId } from './pipelines.ts';
import { toMakefile, toPipelineYaml, toSnakefile } from './pipelines.ts';
import { type Command, runCommand, type Sample, timeCommandOnce, timeCommandsInterleaved } from './timing.ts';
import { isInstalled, makeCommand, pipeCommand, pipeRunWithoutJournal, snakemakeCommand } from './tools.ts';

export interface NoopResult {
  id: PipelineShape['id'];
  label: string;
  /** How Snakemake's Snakefile is written (one rule per step, or a wildcard rule). */
  snakefile: PipelineShape['snakefile'];
  stages: number;
  /** One build from scratch, in ms; null when the tool is not installed. */
  coldMs: { gpt2oPipe: number; snakemake: number | null; make: number | null };
  noop: {
    /** `run` as a person repeats it: answered from its no-op journal (README, "No-op journal"). */
    gpt2oPipeRun: Sample;
    /** `run` with journals off: the full path, as the first fully cached run after a change. */
    gpt2oPipeRunFull: Sample;
    gpt2oPipeStatus: Sample;
    snakemake: Sample | null;
    make: Sample | null;
    /** The same no-ops by the --baseline build, in its own project; null without --baseline. */
    baseline: { run: Sample; status: Sample } | null;
    /** At scale: `run` and Snakemake's no-op again while `burners` busy processes load every core. */
    loaded: { burners: number; run: Sample; snakemake: Sample | null } | null;
  };
  /** Median / median ratios. */
  ratios: {
    runVsSnakemake: number | null;
    fullRunVsSnakemake: number | null;
    runVsMake: number | null;
    statusVsSnakemake: number | null;
    runVsBaseline: number | null;
    fullRunVsBaseline: number | null;
    statusVsBaseline: number | null;
    loadedRunVsSnakemake: number | null;
  };
}

/** The ratio each pipeline's cached run must reach against Snakemake's no-op. */
export const SNAKEMAKE_TARGETS: Record<ShapeId, number> = {
  linear7: 0.5,
  wide200: 0.2,
  linear1000: 0.2,
  wide1000: 0.2,
  wide5000: 0.2,
};

/**
 * Builds the pipeline three ways under `root` (four with a baseline build of gpt2o-pipe), then
 * times the no-ops `repeat` times, interleaved.
 */
export function benchNoop(
  shape: PipelineShape,
  root: string,
  repeat: number,
  log: (line: string) => void,
  baseline?: string,
): NoopResult {
  const dir = join(root, shape.id);
  const pipeDir = writeProject(join(dir, 'gpt2o-pipe'), 'pipeline.yaml', toPipelineYaml(shape));
  const hasSnakemake = isInstalled('snakemake');
  const hasMake = isInstalled('make');
  const jobs = String(availableParallelism());

  log(`${shape.id}: cold builds`);
  const coldMs = {
    gpt2oPipe: timeCommandOnce(pipeCommand('run', pipeDir)),
    /** When gpt2o-pipe's cold build ended (not reported). */
    gpt2oPipeEnded: 0,
    snakemake: null as number | null,
    make: null as number | null,
  };
  coldMs.gpt2oPipeEnded = Date.now();
  // The baseline gets a project and a cache of its own: another build may store differently.
  const baseDir = baseline
    ? writeProject(join(dir, 'gpt2o-pipe-baseline'), 'pipeline.yaml', toPipelineYaml(shape))
    : '';
  if (baseline) runCommand(pipeCommand('run', baseDir, [], baseline));
  let snakeDir = '';
  let makeDir = '';
  if (hasSnakemake) {
    snakeDir = writeProject(join(dir, 'snakemake'), 'Snakefile', toSnakefile(shape));
    // At scale Snakemake's own cold build is left out: scheduling thousands of jobs takes it
    // minutes (1,000 wide: 218 s on a 2-core machine). Its outputs are written directly instead,
    // in step order; the check below confirms it then has nothing to do.
    if (shape.snakefile === 'wildcard') writeOutputs(shape, snakeDir);
    else coldMs.snakemake = timeCommandOnce(snakemakeCommand(snakeDir, ['--cores', jobs]));
  }
  if (hasMake) {
    makeDir = writeProject(join(dir, 'make'), 'Makefile', toMakefile(shape));
    coldMs.make = timeCommandOnce(makeCommand(makeDir, ['-j', jobs]));
  }

  // NOTE: these checks double as the warm-up run of each tool.
  log(`${shape.id}: checking that every tool now has nothing to do`);
  // A journal keeps nothing changed in the 2 s before its run began: the outputs must be older.
  sleepSync(coldMs.gpt2oPipeEnded + JOURNAL_RACY_MS + 500 - Date.now());
  assertPipeNoop(pipeDir, shape.steps.length);
  assertJournaled(pipeDir);
  if (baseline) assertPipeNoop(baseDir, shape.steps.length, baseline);
  if (hasSnakemake) assertOutputIncludes(snakemakeCommand(snakeDir, ['-n']), 'Nothing to be done');
  if (hasMake) runCommand(makeCommand(makeDir, ['-q'])); // exits 1 if anything is out of date

  log(`${shape.id}: timing no-ops (${repeat}x each)`);
  const commands: Command[] = [
    pipeCommand('run', pipeDir),
    pipeCommand('status', pipeDir),
    pipeRunWithoutJournal(pipeDir),
  ];
  if (hasSnakemake) commands.push(snakemakeCommand(snakeDir));
  if (hasMake) commands.push(makeCommand(makeDir));
  if (baseline)
    commands.push(pipeCommand('run', baseDir, [], baseline), pipeCommand('status', baseDir, [], baseline));
  const [run, status, fullRun, ...peers] = timeCommandsInterleaved(commands, repeat);
  const snakemake = hasSnakemake ? peers.shift()! : null;
  const make = hasMake ? peers.shift()! : null;
  const base = baseline ? { run: peers.shift()!, status: peers.shift()! } : null;
  const loaded = shape.snakefile === 'wildcard' ? timeLoaded(shape, pipeDir, snakeDir, repeat, log) : null;

  return {
    id: shape.id,
    label: shape.label,
    snakefile: shape.snakefile,
    stages: shape.steps.length,
    coldMs: { gpt2oPipe: coldMs.gpt2oPipe, snakemake: coldMs.snakemake, make: coldMs.make },
    noop: {
      gpt2oPipeRun: run!,
      gpt2oPipeRunFull: fullRun!,
      gpt2oPipeStatus: status!,
      snakemake,
      make,
      baseline: base,
      loaded,
    },
    ratios: {
      runVsSnakemake: ratio(run!.medianMs, snakemake?.medianMs),
      fullRunVsSnakemake: ratio(fullRun!.medianMs, snakemake?.medianMs),
      runVsMake: ratio(run!.medianMs, make?.medianMs),
      statusVsSnakemake: ratio(status!.medianMs, snakemake?.medianMs),
      runVsBaseline: ratio(run!.medianMs, base?.run.medianMs),
      fullRunVsBaseline: ratio(fullRun!.medianMs, base?.run.medianMs),
      loadedRunVsSnakemake: ratio(loaded?.run.medianMs, loaded?.snakemake?.medianMs),
      statusVsBaseline: ratio(status!.medianMs, base?.status.medianMs),
    },
  };
}

/**
 * The "on a loaded machine as well": `run` and Snakemake's no-op timed again, interleaved,
 * while one busy process per core competes with them at the same priority.
 */
function timeLoaded(
  shape: PipelineShape,
  pipeDir: string,
  snakeDir: string,
  repeat: number,
  log: (line: string) => void,
): NonNullable<NoopResult['noop']['loaded']> {
  const burners = availableParallelism();
  log(`${shape.id}: timing no-ops again with ${burners} busy processes loading the cores (${repeat}x each)`);
  const busy = Array.from({ length: burners }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
  try {
    const commands = [pipeCommand('run', pipeDir), ...(snakeDir ? [snakemakeCommand(snakeDir)] : [])];
    const [run, snakemake] = timeCommandsInterleaved(commands, repeat);
    return { burners, run: run!, snakemake: snakemake ?? null };
  } finally {
    for (const child of busy) child.kill('SIGKILL');
  }
}

/** The graded target of one pipeline: cached run / Snakemake no-op, by medians. */
export function noopChecks(result: NoopResult): Check[] {
  const target = SNAKEMAKE_TARGETS[result.id];
  return [
    grade(
      {
        id: `noop.${result.id}.run_vs_snakemake`,
        label: `${result.id}: cached run / snakemake no-op`,
        op: '<=',
        target,
        unit: 'x',
      },
      result.ratios.runVsSnakemake,
      'snakemake not installed',
    ),
    ...(result.noop.loaded
      ? [
          grade(
            {
              id: `noop.${result.id}.loaded_run_vs_snakemake`,
              label: `${result.id}: cached run / snakemake no-op, cores loaded`,
              op: '<=',
              target,
              unit: 'x',
            },
            result.ratios.loadedRunVsSnakemake,
            'snakemake not installed',
          ),
        ]
      : []),
  ];
}

/** What the steps' commands write (`echo name`, `cat inputs`), each file after its inputs. */
function writeOutputs(shape: PipelineShape, dir: string): void {
  const written = new Map<string, string>();
  for (const step of shape.steps) {
    const content =
      step.inputs.length === 0 ? `${step.name}\n` : step.inputs.map((i) => written.get(i)!).join('');
    written.set(step.output, content);
    writeFileSync(join(dir, step.output), content);
  }
}

function writeProject(dir: string, file: string, content: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), content);
  return dir;
}

/** `run --json` must report every stage cached, and `status --json` every stage up to date. */
function assertPipeNoop(dir: string, stages: number, bin?: string): void {
  const run = JSON.parse(runCommand(pipeCommand('run', dir, ['--json'], bin)).stdout) as {
    stages: { name: string; status: string }[];
  };
  const notCached = run.stages.filter((s) => s.status !== 'cached');
  if (run.stages.length !== stages || notCached.length > 0) {
    throw new Error(
      `gpt2o-pipe run in ${dir}: expected ${stages} cached stages, got ${JSON.stringify(run.stages.slice(0, 5))}`,
    );
  }
  assertPipeUpToDate(dir, bin);
}

/** The timed `run` must be answered from its journal (the second of two runs says "used"). */
function assertJournaled(dir: string): void {
  const command = pipeCommand('run', dir);
  const env = { ...command.env, GPT2O_NOOP_JOURNAL_REPORT: '1' };
  runCommand({ ...command, env });
  const said = runCommand({ ...command, env }).stderr;
  if (!said.includes('no-op journal used'))
    throw new Error(`gpt2o-pipe run in ${dir}: its no-op journal was not used:\n${said}`);
}

/** The stat cache's and the journal's window (src/cache/stat-cache.ts RACY_MS). */
const JOURNAL_RACY_MS = 2000;

function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** `status --json` must say every stage is up to date (else the timing would measure something else). */
export function assertPipeUpToDate(dir: string, bin?: string): void {
  const status = JSON.parse(runCommand(pipeCommand('status', dir, ['--json'], bin)).stdout) as {
    experiments: { stages: { name: string; state: string; reasons: string[] }[] }[];
  };
  const stale = status.experiments.flatMap((e) => e.stages).filter((s) => s.state !== 'up-to-date');
  if (stale.length > 0) {
    throw new Error(`gpt2o-pipe status in ${dir}: not up to date: ${JSON.stringify(stale.slice(0, 5))}`);
  }
}

function assertOutputIncludes(command: Command, text: string): void {
  const result = runCommand(command);
  if (!`${result.stdout}${result.stderr}`.includes(text)) {
    throw new Error(
      `${command.label} in ${command.cwd}: expected "${text}" in its output:\n${result.stdout}${result.stderr}`,
    );
  }
}
