// `gpt2o-pipe compare [EXPERIMENT…]`: the params that differ and the metrics of experiments' latest
// finished runs, side by side; --json, --md, --plot (sparklines), --html FILE (a self-contained
// report with loss curves and audio players).
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { CacheStore } from '../../cache/store.ts';
import { type CompareTarget, collectComparison, parseBy, rankBy } from '../../compare/experiment-data.ts';
import { checkReportTarget, writeReport } from '../../compare/report-file.ts';
import { formatBest, formatMarkdown, formatPlot, formatSweepTable, formatTable } from '../../compare/text.ts';
import { EXIT_OK, PipeError } from '../../errors.ts';
import { parseCommandArgs } from '../args.ts';
import { resolveTargets } from '../experiment-targets.ts';
import type { CliIo } from '../io.ts';
import { projectCache } from '../workspace.ts';

export const COMPARE_HELP = `Usage: gpt2o-pipe compare [EXPERIMENT...] [options]

Compares the latest finished runs of experiments: the params that differ, and the metrics of
the stages whose results differ (final and best losses, perplexity, tokens/s, time, ...).

  EXPERIMENT          experiment files, or the name of a sweep (a line per variant, its
                      swept params as columns) or of a sweep's variant (default: every
                      experiment of this project with a finished run in the cache)
  --by STAGE.METRIC[:min|:max]
                      mark the best experiment by this metric; without :min/:max, names
                      with loss, perplexity or error are lower-is-better and names with
                      acc, score, per_sec or share higher-is-better
  --json              print {"projectRoot", "experiments": [{"experiment", "specFile", "updatedAt", "params",
                      "stages": [{"name", "key", "seconds", "metrics"}], "series": [{"stage",
                      "name", "points"}], "audio": [{"stage", "name", "path", "bytes"}]}],
                      "differingParams", "differingStages"}, plus "by": {"metric", "direction",
                      "best"} with --by and "sweep": {"sweep", "params", "variants": [{"experiment",
                      "values", "finished"}]} for a sweep
  --md                print the table as Markdown
  --plot              print sparklines of the loss curves
  --html FILE         write a self-contained HTML report (curves, params, audio players)
  --cache DIR         cache folder
`;

const OPTIONS = {
  json: { type: 'boolean' },
  md: { type: 'boolean' },
  plot: { type: 'boolean' },
  html: { type: 'string' },
  by: { type: 'string' },
} as const;

export async function compareCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('compare', args, OPTIONS);
  if (values.help) {
    io.stdout(COMPARE_HELP);
    return EXIT_OK;
  }
  const htmlFile = values.html === undefined ? undefined : resolve(io.cwd, values.html);
  // Checked before anything is read: a refused target is a usage error, whatever the cache holds.
  if (htmlFile) checkReportTarget(htmlFile, io.cwd);
  const { cache, projectRoot } = projectCache(io, values.cache);
  const store = openExistingCache(io, cache);
  const by = values.by === undefined ? undefined : parseBy(values.by);
  if (by && 'problem' in by) {
    throw new PipeError(by.problem, {
      code: 'E_USAGE',
      hint: 'for example --by evaluate.val_loss, or say the direction: --by sample.valid_frame_share:max',
    });
  }
  const { targets: named, sweeps } = resolveTargets(io, positionals, values.cache);
  // One sweep alone: a line per variant, and a variant without a finished run is shown, not an error.
  const sweep = positionals.length === 1 && sweeps.length === 1 ? sweeps[0] : undefined;
  const comparison = await compareTargets(io, store, projectRoot, named, sweep);
  if (by) comparison.by = rankBy(comparison.experiments, by);
  if (htmlFile) {
    const { renderReport } = await import('../../compare/html.ts');
    writeReport(htmlFile, renderReport(comparison));
    if (!values.json) io.stderr(`compare: wrote ${relative(io.cwd, htmlFile)}\n`);
  }
  if (values.json) {
    io.stdout(`${JSON.stringify(comparison)}\n`);
    return EXIT_OK;
  }
  if (values.md) io.stdout(`${formatMarkdown(comparison)}${formatBest(comparison)}`);
  else if (comparison.sweep) io.stdout(formatSweepTable(comparison));
  else io.stdout(`${formatTable(comparison)}${formatBest(comparison)}`);
  if (values.plot) io.stdout(`\n${formatPlot(comparison)}`);
  return EXIT_OK;
}

/** compare only reads: a cache that is not there holds no run, and is not created by looking. */
function openExistingCache(io: CliIo, cache: string): CacheStore {
  if (!existsSync(cache)) {
    throw new PipeError(`no cache at ${relative(io.cwd, cache) || '.'}, so no finished run to compare`, {
      code: 'E_COMPARE_NO_RUN',
      hint: 'run an experiment first (gpt2o-pipe run), or pass --cache when the cache is elsewhere',
    });
  }
  return CacheStore.open(cache, { create: false });
}

/**
 * What the named experiments' (or the sweep's variants') latest runs hold; an experiment with no
 * finished run is an error, except a sweep's variant, which is listed as unfinished.
 */
async function compareTargets(
  io: CliIo,
  store: CacheStore,
  projectRoot: string,
  named: ReturnType<typeof resolveTargets>['targets'],
  sweep: ReturnType<typeof resolveTargets>['sweeps'][number] | undefined,
) {
  const targets = named.map((t) => ({
    specFile: t.specFile,
    ...(t.variant ? { variant: t.variant.name } : {}),
  }));
  const { comparison, missing } = await collectComparison(store, { targets, projectRoot });
  if (missing.length > 0 && !sweep) {
    const name = (t: CompareTarget) => t.variant ?? relative(io.cwd, t.specFile);
    throw new PipeError(
      `no finished run of ${missing.map(name).join(', ')} in ${relative(io.cwd, store.root) || '.'}`,
      {
        code: 'E_COMPARE_NO_RUN',
        hint: missing[0]!.variant
          ? 'run its sweep first (gpt2o-pipe run EXPERIMENT --sweep …)'
          : `run it first: gpt2o-pipe run ${relative(io.cwd, missing[0]!.specFile)}`,
      },
    );
  }
  if (sweep) {
    const finished = new Set(comparison.experiments.map((e) => e.experiment));
    comparison.sweep = {
      sweep: sweep.sweep,
      params: sweep.params,
      variants: sweep.variants.map((v) => ({
        experiment: v.name,
        values: v.values,
        finished: finished.has(v.name),
      })),
    };
  }
  if (comparison.experiments.length === 0) {
    throw new PipeError('no experiment of this project has a finished run to compare', {
      code: 'E_COMPARE_NO_RUN',
      hint: 'run one first (gpt2o-pipe run), or pass --cache when the cache is elsewhere',
    });
  }
  return comparison;
}
