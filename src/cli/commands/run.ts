// `gpt2o-pipe run [EXPERIMENT] [STAGE…]`: resolve, plan, run, record, report.

import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { relative, resolve } from 'node:path';
import { enterRun } from '../../cache/maintenance.ts';
import { updateRef } from '../../cache/refs.ts';
import type { CacheStore } from '../../cache/store.ts';
import { EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_STAGE_FAILED, PipeError } from '../../errors.ts';
import { type Graph, selectStages } from '../../graph/build.ts';
import type { ExecutorName } from '../../pipeline/types.ts';
import { formatError } from '../../report/format-error.ts';
import { batchLines } from '../../report/line-batch.ts';
import { PlainReporter } from '../../report/plain.ts';
import type { Reporter } from '../../report/reporter.ts';
import type { StageOutcome } from '../../run/events.ts';
import { linkRunOutput } from '../../run/runs-tree.ts';
import { runStages } from '../../run/scheduler.ts';
import { formatSeconds } from '../../util/format.ts';
import { defaultExperiment, looksLikeSpecFile, parseCommandArgs, parseJobs, parseWorkers } from '../args.ts';
import type { CliIo } from '../io.ts';
import { checkStageNames, openWorkspace, type Workspace } from '../workspace.ts';

export const RUN_HELP = `Usage: gpt2o-pipe run [EXPERIMENT] [STAGE...] [options]

Runs an experiment: every stage whose result is not in the cache, in dependency order.
Naming stages runs only them and what they need (like \`make target\`).

  EXPERIMENT          an experiment or pipeline file (default: experiments/demo.yaml
                      when it exists, else pipeline.yaml)
  --set KEY=VALUE     override a param (repeatable); VALUE is parsed as YAML
  --jobs N            run up to N independent stages at once (default: CPU count)
  --force STAGE       run STAGE even if it is cached (repeatable)
  --dry-run           compute keys and report what would run; run nothing
  --keep-going        after a failure, keep running stages that do not depend on it
  --json              print one JSON object with the outcome on stdout
  --executor local|slurm
                      where stages that name no executor: run (default: the spec's
                      executor:, else local); slurm submits each stage as a Slurm job
  --sweep KEY=V1,V2   run one variant per value (repeatable: the grid of all combinations);
                      values are YAML scalars; replaces the experiment's sweep: block
  --sweep-name NAME   the sweep's name for \`status NAME\` and \`compare NAME\` (default: the
                      sweep: block's name, else the experiment's); a name stands for its
                      latest grid: a new grid under the same name replaces the list
  --cache DIR         cache folder (default: $GPT2O_CACHE, else cache/ beside pipeline.yaml)

A sweep runs its variants as one graph: a stage key that variants share runs once, --jobs bounds
the whole sweep, and a failing variant stops only itself. Each variant is an experiment named
EXPERIMENT.<param>-<value>… (status, logs, compare and runs/<name>/ take it). With --json, a sweep
prints {"sweep", "experiment", "specFile", "params", "ok", "executions" (stages that ran; with
--dry-run, distinct keys that would run), "variants": [{"name",
"values", "state" (done|failed|stopped|planned|incomplete), "stages": [as for one run]}]}.
`;

const OPTIONS = {
  set: { type: 'string', multiple: true },
  jobs: { type: 'string', short: 'j' },
  force: { type: 'string', multiple: true },
  'dry-run': { type: 'boolean', short: 'n' },
  'keep-going': { type: 'boolean', short: 'k' },
  json: { type: 'boolean' },
  executor: { type: 'string' },
  sweep: { type: 'string', multiple: true },
  'sweep-name': { type: 'string' },
  // Internal: the command a Slurm job runs (every stage local, refs and runs/ left to the head).
  'stage-exec': { type: 'boolean' },
} as const;

export async function runCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('run', args, OPTIONS);
  if (values.help) {
    io.stdout(RUN_HELP);
    return EXIT_OK;
  }
  const first = positionals[0];
  const specFile =
    first !== undefined && looksLikeSpecFile(first, io.cwd) ? first : defaultExperiment(io.cwd);
  const targets = first !== undefined && specFile === first ? positionals.slice(1) : positionals;

  const sweepFlags = values.sweep ?? [];
  if (values['sweep-name'] !== undefined && sweepFlags.length === 0 && !(await hasSweepBlock(specFile, io))) {
    throw new PipeError('--sweep-name names a sweep, but there is none: no --sweep and no sweep: block', {
      code: 'E_USAGE',
      hint: 'add --sweep KEY=V1,V2, or a sweep: block to the experiment',
    });
  }
  // One request for a sweep and for one experiment (called where it is needed, so a bad --jobs is
  // reported in the order it always was).
  const request = (): RunRequest => ({
    executor: checkExecutor(values.executor),
    targets,
    force: values.force ?? [],
    jobs: parseJobs(values.jobs, availableParallelism()),
    workers: parseWorkers(io.env, availableParallelism()),
    dryRun: values['dry-run'] === true,
    keepGoing: values['keep-going'] === true,
    json: values.json === true,
    signal: io.signal,
  });
  if (values['stage-exec'] !== true && (sweepFlags.length > 0 || (await hasSweepBlock(specFile, io)))) {
    const { resolveSweep } = await import('../../pipeline/sweep-resolve.ts');
    const sweep = await resolveSweep(resolve(io.cwd, specFile), {
      sets: values.set ?? [],
      flags: sweepFlags,
      ...(values['sweep-name'] !== undefined ? { name: values['sweep-name'] } : {}),
      registry: io.registry,
    });
    if (sweep) {
      const { runSweep } = await import('./run-sweep.ts');
      return runSweep(io, sweep, {
        ...request(),
        sets: values.set ?? [],
        ...(values.cache !== undefined ? { cache: values.cache } : {}),
        command: ['gpt2o-pipe run', ...args.filter((a) => a !== '--json')].join(' '),
      });
    }
  }
  const workspace = await openWorkspace(io, specFile, {
    sets: values.set,
    cache: values.cache,
    create: true,
    write: values['dry-run'] !== true,
  });
  const { graph } = workspace;
  checkStageNames(io, graph, [...targets, ...(values.force ?? [])]);
  return runWorkspace(io, workspace, { ...request(), stageExec: values['stage-exec'] === true });
}

function checkExecutor(executor: string | undefined): ExecutorName | undefined {
  if (executor !== undefined && executor !== 'local' && executor !== 'slurm') {
    throw new PipeError(`--executor must be "local" or "slurm", got "${executor}"`, {
      code: 'E_USAGE',
      hint: 'for example --executor slurm',
    });
  }
  return executor;
}

/**
 * Whether the file has a top-level `sweep:` key; a cheap look at the text, so that a run of an
 * experiment that does not sweep pays nothing. The sweep path parses and checks it properly.
 */
async function hasSweepBlock(specFile: string, io: CliIo): Promise<boolean> {
  try {
    return /^sweep\s*:/m.test(await readFile(resolve(io.cwd, specFile), 'utf8'));
  } catch {
    return false; // the ordinary path reports a file it cannot read
  }
}

/** One run of an opened workspace, as `run` does it; `watch` calls it once per cycle. */
export interface RunRequest {
  /** Stages to run with what they need; empty: every stage. */
  targets: readonly string[];
  force: readonly string[];
  jobs: number;
  /** Worker threads a built-in stage may start (GPT2O_WORKERS, else one per core). */
  workers: number;
  dryRun: boolean;
  keepGoing: boolean;
  json: boolean;
  /** Stops the run (Ctrl-C for `run`; Ctrl-C or a file change for `watch`). */
  signal: AbortSignal;
  /** Print the report of a stage stopped by the signal (default true; `watch` says why itself). */
  reportInterrupted?: boolean;
  /** `--executor`: overrides the spec's default executor. */
  executor?: ExecutorName;
  /** Inside a Slurm job: run everything locally and publish no refs or runs/ links (the head does). */
  stageExec?: boolean;
}

/**
 * Registers a run that writes to the cache (gc and verify --repair wait for it, and it waits for
 * them, saying so); returns the call that ends it. A dry run writes nothing and registers nothing.
 */
export async function markRun(
  io: CliIo,
  store: CacheStore,
  request: Pick<RunRequest, 'dryRun' | 'signal'>,
): Promise<() => void> {
  if (request.dryRun) return () => undefined;
  return enterRun(store, {
    signal: request.signal,
    onWait: (holder) =>
      io.stderr(
        `waiting: gc or verify --repair (${holder}) is working on the cache; this run starts when it is done\n`,
      ),
  });
}

/** What the scheduler takes from a request, for one experiment and for a sweep alike. */
export function schedulingOf(request: RunRequest) {
  return {
    jobs: request.jobs,
    workers: request.workers,
    force: new Set(request.force),
    dryRun: request.dryRun,
    keepGoing: request.keepGoing,
    signal: request.signal,
  };
}

/** Plans, runs, records and reports; returns the exit code (errors.ts: 0, 1, 70 on a bug, 130 when stopped). */
export async function runWorkspace(io: CliIo, workspace: Workspace, request: RunRequest): Promise<number> {
  const { graph, store, runsDir } = workspace;
  const selected = selectStages(graph, request.targets);
  const json = request.json;
  const say = json ? io.stderr : io.stdout;
  const spec = graph.spec;
  say(
    `gpt2o-pipe run: experiment "${spec.experiment}" (${relative(io.cwd, spec.specFile)}), ${selected.length} stage${selected.length === 1 ? '' : 's'}, cache ${relative(io.cwd, store.root) || '.'}\n`,
  );

  const unmark = await markRun(io, store, request);
  const lines = batchLines(say);
  const reporter: Reporter =
    io.isTTY && !json
      ? new (await import('../../report/listr.ts')).ListrReporter()
      : new PlainReporter((line) => lines.write(`${line}\n`));
  reporter.start(selected);
  const started = Date.now();
  let outcomes!: Map<string, StageOutcome>;
  try {
    outcomes = await runStages({
      graph,
      store,
      selected,
      ...schedulingOf(request),
      emit: (event) => {
        reporter.event(event);
        // In a Slurm job, stdout is the job log the head streams: the stage's own lines belong in it.
        if (request.stageExec && event.type === 'stage-log') lines.write(`${event.line}\n`);
      },
      defaultExecutor: request.executor ?? spec.executor,
      forceLocal: request.stageExec === true,
      slurm: { specFile: spec.specFile, sets: workspace.sets, cwd: io.cwd },
    });
    await reporter.finish();
    if (!request.dryRun && !request.stageExec) await recordRun(outcomes, store, runsDir, graph);
  } finally {
    lines.flush();
    unmark();
  }

  const list = selected.map((name) => outcomes.get(name)!);
  say(`${summaryLine(list)} in ${formatSeconds((Date.now() - started) / 1000)}\n`);
  return reportOutcomes(io, request, spec, list);
}

/** Prints each failure's report (and the --json payload); returns the run's exit code. */
function reportOutcomes(io: CliIo, request: RunRequest, spec: Graph['spec'], list: StageOutcome[]): number {
  const failed = list.filter((o) => o.status === 'failed');
  for (const outcome of failed) {
    if (request.reportInterrupted === false && isInterrupted(outcome)) continue;
    io.stderr(`\n${failureReport(outcome, list, io, spec.specFile)}\n`);
  }
  if (request.json) {
    const payload = {
      experiment: spec.experiment,
      ok: failed.length === 0,
      stages: list.map(stageJson),
    };
    io.stdout(`${JSON.stringify(payload)}\n`);
  }
  return runExitCode(list);
}

/** A stage's outcome in `run --json`: name, status, key, seconds, and reason and error when set. */
export function stageJson(o: StageOutcome) {
  return {
    name: o.name,
    status: o.status,
    key: o.key ?? null,
    seconds: Math.round(o.seconds * 1000) / 1000,
    ...(o.reason ? { reason: o.reason } : {}),
    ...(o.error ? { error: o.error.message } : {}),
  };
}

/** The exit code of a run's outcomes (errors.ts: 0, 1 a stage failed, 70 a bug, 130 stopped). */
export function runExitCode(list: readonly StageOutcome[]): number {
  const failed = list.filter((o) => o.status === 'failed');
  if (failed.some(isInterrupted)) return EXIT_INTERRUPTED;
  // A stage that failed on a bug (ours or a built-in stage's) exits like any other internal error.
  if (failed.some((o) => !(o.error instanceof PipeError))) return EXIT_INTERNAL;
  return failed.length > 0 ? EXIT_STAGE_FAILED : EXIT_OK;
}

/** A stage stopped by Ctrl-C (or a closed stdout). */
export function isInterrupted(outcome: StageOutcome): boolean {
  return (outcome.error as PipeError | undefined)?.code === 'E_INTERRUPTED';
}

/** Publishes the run: the experiment's ref, runs/<experiment>/<stage> links, the stat cache. */
export async function recordRun(
  outcomes: Map<string, StageOutcome>,
  store: CacheStore,
  runsDir: string,
  graph: Graph,
): Promise<void> {
  const done = [...outcomes.values()].filter(
    (o) => (o.status === 'ran' || o.status === 'cached') && o.key && o.tree,
  );
  const spec = graph.spec;
  updateRef(
    store,
    {
      specFile: spec.specFile,
      experiment: spec.experiment,
      projectRoot: spec.projectRoot,
      ...(spec.variant ? { variant: spec.experiment } : {}),
    },
    Object.fromEntries(done.map((o) => [o.name, { key: o.key!, tree: o.tree! }])),
    graph.order,
  );
  for (const outcome of done) {
    let dir: string;
    try {
      dir = await store.materialize(outcome.tree!);
    } catch (error) {
      // An object a later stage damaged (and that was quarantined) in this run: already reported,
      // and the next run recomputes it; keep the previous runs/ link.
      if (error instanceof PipeError && error.code === 'E_CACHE_DAMAGED') continue;
      throw error;
    }
    await linkRunOutput(runsDir, spec.experiment, outcome.name, dir);
    if (outcome.logPath)
      await linkRunOutput(runsDir, spec.experiment, `${outcome.name}.log`, outcome.logPath);
  }
  store.statCache.save(store.layout.tmp);
  store.validated.save();
}

export function summaryLine(list: StageOutcome[]): string {
  const count = (status: StageOutcome['status']) => list.filter((o) => o.status === status).length;
  const parts = (['ran', 'cached', 'would-run', 'failed', 'skipped'] as const)
    .filter((s) => count(s) > 0 || s === 'ran' || s === 'cached')
    .map((s) => `${count(s)} ${s}`);
  return `${list.length} stage${list.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
}

export function failureReport(
  outcome: StageOutcome,
  list: StageOutcome[],
  io: CliIo,
  specFile: string,
  /** The command that resumes; default `gpt2o-pipe run <specFile>`. */
  resume = `gpt2o-pipe run ${relative(io.cwd, specFile)}`,
): string {
  const lines = [formatError(outcome.error, io.cwd)];
  if (!(outcome.error instanceof PipeError)) lines.push(`  (in stage "${outcome.name}")`);
  if (outcome.logTail) {
    lines.push(`  last lines of the log (${relative(io.cwd, outcome.logPath ?? '')}):`);
    lines.push(
      ...outcome.logTail
        .split('\n')
        .slice(-15)
        .map((l) => `    | ${l}`),
    );
  }
  const skipped = list
    .filter((o) => o.status === 'skipped' && o.reason?.includes(`"${outcome.name}"`))
    .map((o) => o.name);
  if (skipped.length > 0) lines.push(`  skipped because of it: ${skipped.join(', ')}`);
  lines.push(`  after fixing it, resume with: ${resume}`);
  return lines.join('\n');
}
