// `gpt2o-pipe run [EXPERIMENT] [STAGE…]`: resolve, plan, run, record, report.

import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { updateRef } from '../../cache/refs.ts';
import type { CacheStore } from '../../cache/store.ts';
import { EXIT_OK, PipeError } from '../../errors.ts';
import { type Graph, selectStages } from '../../graph/build.ts';
import type { ExecutorName } from '../../pipeline/types.ts';
import type { StageOutcome } from '../../run/events.ts';
import { linkRunOutput } from '../../run/runs-tree.ts';
import { runStages } from '../../run/scheduler.ts';
import {
  defaultExperiment,
  looksLikeSpecFile,
  parseCommandArgs,
  parseJobs,
  parseResources,
} from '../args.ts';
import type { CliIo } from '../io.ts';
import { checkStageNames, openWorkspace, type Workspace } from '../workspace.ts';
import { journalTarget, rememberNoop, replayNoop } from './run-noop.ts';
import { openReporter, reportOutcomes, sayHeader, saySummary } from './run-report.ts';
import { markRun, type RunRequest, schedulingOf } from './run-request.ts';

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
  // Before anything is read: a journal keeps only what did not change since (noop-journal.ts).
  const since = Date.now();
  const { values, positionals } = parseCommandArgs('run', args, OPTIONS);
  if (values.help) {
    io.stdout(RUN_HELP);
    return EXIT_OK;
  }
  const first = positionals[0];
  const specFile =
    first !== undefined && looksLikeSpecFile(first, io.cwd) ? first : defaultExperiment(io.cwd);
  const targets = first !== undefined && specFile === first ? positionals.slice(1) : positionals;
  // One request for a sweep and for one experiment (called where it is needed, so a bad --jobs is
  // reported in the order it always was).
  const request = (): RunRequest => ({
    executor: checkExecutor(values.executor),
    targets,
    force: values.force ?? [],
    jobs: parseJobs(values.jobs, availableParallelism()),
    resources: parseResources(io.env),
    dryRun: values['dry-run'] === true,
    keepGoing: values['keep-going'] === true,
    json: values.json === true,
    signal: io.signal,
  });
  const swept = await runIfSweep(io, args, values, specFile, request);
  if (swept !== undefined) return swept;

  // A run that writes, forces nothing and is not a Slurm job's may be answered by its journal.
  const remembers = values['dry-run'] !== true && values.force === undefined && values['stage-exec'] !== true;
  const journal = remembers ? journalTarget(io, { args, specFile, since }) : undefined;
  if (journal) {
    const code = await replayNoop(io, journal, request());
    if (code !== undefined) return code;
  }
  const workspace = await openWorkspace(io, specFile, {
    sets: values.set,
    cache: values.cache,
    create: true,
    write: values['dry-run'] !== true,
  });
  checkStageNames(io, workspace.graph, [...targets, ...(values.force ?? [])]);
  return runWorkspace(io, workspace, {
    ...request(),
    stageExec: values['stage-exec'] === true,
    ...(journal ? { journal } : {}),
  });
}

type RunValues = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values'];

/**
 * Runs the experiment's sweep (--sweep flags, or its sweep: block) and returns the exit code;
 * undefined when there is no sweep to run (or this is a Slurm job's run of one variant).
 */
async function runIfSweep(
  io: CliIo,
  args: readonly string[],
  values: RunValues,
  specFile: string,
  request: () => RunRequest,
): Promise<number | undefined> {
  const flags = values.sweep ?? [];
  const sweeping = flags.length > 0 || (await hasSweepBlock(specFile, io));
  if (values['sweep-name'] !== undefined && !sweeping) {
    throw new PipeError('--sweep-name names a sweep, but there is none: no --sweep and no sweep: block', {
      code: 'E_USAGE',
      hint: 'add --sweep KEY=V1,V2, or a sweep: block to the experiment',
    });
  }
  if (!sweeping || values['stage-exec'] === true) return undefined;
  const { resolveSweep } = await import('../../pipeline/sweep-resolve.ts');
  const sweep = await resolveSweep(resolve(io.cwd, specFile), {
    sets: values.set ?? [],
    flags,
    ...(values['sweep-name'] !== undefined ? { name: values['sweep-name'] } : {}),
    registry: io.registry,
  });
  if (!sweep) return undefined;
  const { runSweep } = await import('./run-sweep.ts');
  return runSweep(io, sweep, {
    ...request(),
    sets: values.set ?? [],
    ...(values.cache !== undefined ? { cache: values.cache } : {}),
    command: ['gpt2o-pipe run', ...args.filter((a) => a !== '--json')].join(' '),
  });
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

/** Plans, runs, records and reports; returns the exit code (errors.ts: 0, 1, 70 on a bug, 130 when stopped). */
export async function runWorkspace(io: CliIo, workspace: Workspace, request: RunRequest): Promise<number> {
  const { graph, store, runsDir } = workspace;
  const selected = selectStages(graph, request.targets);
  const spec = graph.spec;
  sayHeader(
    io,
    request,
    { experiment: spec.experiment, specFile: spec.specFile, cacheRoot: store.root },
    selected,
  );

  const unmark = await markRun(io, store, request);
  const { reporter, lines } = await openReporter(io, request, selected);
  const started = Date.now();
  const ended: string[] = [];
  let outcomes!: Map<string, StageOutcome>;
  try {
    outcomes = await runStages({
      graph,
      store,
      selected,
      ...schedulingOf(request),
      emit: (event) => {
        reporter.event(event);
        if (event.type === 'stage-end') ended.push(event.stage);
        // In a Slurm job, stdout is the job log the head streams: the stage's own lines belong in it.
        if (request.stageExec && event.type === 'stage-log') lines.write(`${event.line}\n`);
      },
      defaultExecutor: request.executor ?? spec.executor,
      forceLocal: request.stageExec === true,
      slurm: { specFile: spec.specFile, sets: workspace.sets, cwd: io.cwd },
    });
    await reporter.finish();
    if (!request.dryRun && !request.stageExec) {
      await recordRun(outcomes, store, runsDir, graph);
      if (request.journal)
        rememberNoop(request.journal, { graph, store, runsDir }, selected, outcomes, ended);
    }
  } finally {
    lines.flush();
    unmark();
  }

  const list = selected.map((name) => outcomes.get(name)!);
  saySummary(io, request, list, started);
  return reportOutcomes(io, request, spec, list);
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
