// `gpt2o-pipe run EXPERIMENT --sweep a.b=1,2 …` (or an experiment with a `sweep:` block): records
// the sweep, runs all its variants as one graph (run/sweep.ts), publishes each variant as an
// experiment of its own (ref, runs/<variant>/) and reports one line per variant.
import { relative } from 'node:path';
import { writeSweep } from '../../cache/sweeps.ts';
import type { PipeError } from '../../errors.ts';
import { selectStages } from '../../graph/build.ts';
import type { ResolvedSweep } from '../../pipeline/sweep-resolve.ts';
import { PlainSweepReporter } from '../../report/sweep-plain.ts';
import type { SweepReporter } from '../../report/sweep-reporter.ts';
import { STATE_SYMBOL, variantState, variantSummary } from '../../report/sweep-text.ts';
import type { StageOutcome } from '../../run/events.ts';
import { countExecutions, runSweepStages, type SweepVariantRun } from '../../run/sweep.ts';
import { formatSeconds } from '../../util/format.ts';
import type { CliIo } from '../io.ts';
import { checkStageNames, type Workspace, workspaceOf } from '../workspace.ts';
import { recordRun } from './run.ts';
import { failureReport, runExitCode, sayOf, stageJson } from './run-report.ts';
import { markRun, type RunRequest, schedulingOf } from './run-request.ts';

type SweepRequest = RunRequest & { sets: string[]; cache?: string; command: string };

/** One variant's workspace and the stages selected in it. */
interface VariantWorkspace {
  variant: ResolvedSweep['variants'][number]['variant'];
  ws: Workspace;
  selected: string[];
}

/** Runs a resolved sweep; returns the exit code of all its variants together (errors.ts). */
export async function runSweep(io: CliIo, sweep: ResolvedSweep, request: SweepRequest): Promise<number> {
  const variants = openVariants(io, sweep, request);
  const store = variants[0]!.ws.store;
  const { plan, base } = sweep;
  sayOf(
    io,
    request,
  )(
    `gpt2o-pipe run: sweep "${plan.name}" of ${base.experiment} (${relative(io.cwd, base.specFile)}), ${plan.variants.length} variants × ${variants[0]!.selected.length} stages, cache ${relative(io.cwd, store.root) || '.'}\n`,
  );
  if (!request.dryRun) {
    writeSweep(store, {
      sweep: plan.name,
      specFile: base.specFile,
      projectRoot: base.projectRoot,
      sets: request.sets,
      params: plan.params,
      variants: plan.variants.map((v) => ({ name: v.name, values: v.values })),
    });
  }
  const started = Date.now();
  const outcomes = await runVariants(io, sweep, variants, request);
  const lists = variants.map(({ variant, selected }) => ({
    variant,
    list: selected.map((stage) => outcomes.get(variant.name)!.get(stage)!),
  }));
  return reportSweep(io, sweep, request, { lists, outcomes, started });
}

/** Each variant's workspace (the stage names checked in each) and its selected stages. */
function openVariants(io: CliIo, sweep: ResolvedSweep, request: SweepRequest): VariantWorkspace[] {
  return sweep.variants.map(({ variant, spec }) => {
    const ws = workspaceOf(io, spec, {
      sets: request.sets,
      cache: request.cache,
      write: !request.dryRun,
      create: true,
    });
    checkStageNames(io, ws.graph, [...request.targets, ...request.force]);
    return { variant, ws, selected: selectStages(ws.graph, request.targets) };
  });
}

/** Runs every variant as one graph, reporting as it goes, and records each; their outcomes by name. */
async function runVariants(
  io: CliIo,
  { base }: ResolvedSweep,
  variants: readonly VariantWorkspace[],
  request: SweepRequest,
): Promise<Map<string, Map<string, StageOutcome>>> {
  const store = variants[0]!.ws.store;
  const say = sayOf(io, request);
  const unmark = await markRun(io, store, request);
  const reporter: SweepReporter =
    io.isTTY && !request.json
      ? new (await import('../../report/sweep-listr.ts')).ListrSweepReporter()
      : new PlainSweepReporter((line) => say(`${line}\n`));
  reporter.start(variants.map(({ variant, selected }) => ({ name: variant.name, stages: selected })));
  try {
    const runs: SweepVariantRun[] = variants.map(({ variant, ws, selected }) => ({
      name: variant.name,
      graph: ws.graph,
      selected,
      emit: (event) => reporter.event(variant.name, event),
      slurm: {
        specFile: base.specFile,
        // A job resolves the file again: the variant's values travel as --set (JSON is YAML).
        sets: [
          ...request.sets,
          ...Object.entries(variant.values).map(([p, v]) => `${p}=${JSON.stringify(v)}`),
        ],
        cwd: io.cwd,
      },
    }));
    const outcomes = await runSweepStages(runs, {
      store,
      ...schedulingOf(request),
      defaultExecutor: request.executor ?? base.executor,
    });
    await reporter.finish();
    if (!request.dryRun) {
      for (const { variant, ws } of variants)
        await recordRun(outcomes.get(variant.name)!, ws.store, ws.runsDir, ws.graph);
    }
    return outcomes;
  } finally {
    unmark();
  }
}

type VariantOutcomes = { variant: { name: string; values: Record<string, unknown> }; list: StageOutcome[] }[];

/** A line per variant and the sweep's tally, each failure's report, the --json payload; the exit code. */
function reportSweep(
  io: CliIo,
  { plan, base }: ResolvedSweep,
  request: SweepRequest,
  ran: { lists: VariantOutcomes; outcomes: Map<string, Map<string, StageOutcome>>; started: number },
): number {
  const { lists } = ran;
  const say = sayOf(io, request);
  const all = lists.flatMap((l) => l.list);
  // A dry run executes nothing: it counts the distinct keys that would run.
  const executions = request.dryRun
    ? new Set(all.filter((o) => o.status === 'would-run').map((o) => o.key)).size
    : countExecutions(ran.outcomes.values());
  const plural = executions === 1 ? '' : 's';
  const executed = request.dryRun ? `stage${plural} would run` : `stage execution${plural}`;
  const width = Math.max(0, ...plan.variants.map((v) => v.name.length));
  // On a terminal, listr2's last frame already shows these lines.
  const terminal = io.isTTY && !request.json;
  for (const { variant, list } of terminal ? [] : lists)
    say(`  ${STATE_SYMBOL[variantState(list)]} ${variant.name.padEnd(width)}  ${variantSummary(list)}\n`);
  const states = lists.map((l) => variantState(l.list));
  const tally = (['done', 'failed', 'stopped', 'planned', 'incomplete'] as const)
    .filter((s) => states.includes(s))
    .map((s) => `${states.filter((x) => x === s).length} ${s}`)
    .join(', ');
  const servedOrShared = all.filter((o) => o.status === 'cached').length;
  say(
    `sweep "${plan.name}": ${plan.variants.length} variants (${tally}); ${executions} ${executed}, ${servedOrShared} cached or shared, in ${formatSeconds((Date.now() - ran.started) / 1000)}\n`,
  );
  reportFailures(io, lists, request);
  if (request.json) {
    const payload = {
      sweep: plan.name,
      experiment: base.experiment,
      specFile: relative(io.cwd, base.specFile),
      params: plan.params,
      ok: all.every((o) => o.status !== 'failed'),
      executions,
      variants: lists.map(({ variant, list }) => ({
        name: variant.name,
        values: variant.values,
        state: variantState(list),
        stages: list.map(stageJson),
      })),
    };
    io.stdout(`${JSON.stringify(payload)}\n`);
  }
  return runExitCode(all);
}

/** Each failure once: where a shared key failed, in the variant that ran it. */
function reportFailures(io: CliIo, lists: VariantOutcomes, request: RunRequest & { command: string }): void {
  for (const { variant, list } of lists) {
    for (const outcome of list) {
      if (outcome.status !== 'failed' || outcome.shared) continue;
      if (
        request.reportInterrupted === false &&
        (outcome.error as PipeError | undefined)?.code === 'E_INTERRUPTED'
      )
        continue;
      const report = failureReport(outcome, list, io, '', request.command);
      io.stderr(`\nvariant ${variant.name}:\n${report}\n`);
    }
  }
}
