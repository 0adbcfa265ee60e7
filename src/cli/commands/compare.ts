// `gpt2o-pipe compare [EXPERIMENT…]`: the params that differ and the metrics of experiments' latest
// finished runs, side by side; --json, --md, --plot (sparklines), --html FILE (a self-contained
// report with loss curves and audio players).
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { CacheStore } from '../../cache/store.ts';
import { collectComparison } from '../../compare/experiment-data.ts';
import { checkReportTarget, writeReport } from '../../compare/report-file.ts';
import { formatMarkdown, formatPlot, formatTable } from '../../compare/text.ts';
import { EXIT_OK, PipeError } from '../../errors.ts';
import { parseCommandArgs } from '../args.ts';
import type { CliIo } from '../io.ts';
import { projectCache } from '../workspace.ts';

export const COMPARE_HELP = `Usage: gpt2o-pipe compare [EXPERIMENT...] [options]

Compares the latest finished runs of experiments: the params that differ, and the metrics of
the stages whose results differ (final and best losses, perplexity, tokens/s, time, ...).

  EXPERIMENT          experiment files (default: every experiment of this project with a
                      finished run in the cache)
  --json              print {"projectRoot", "experiments": [{"experiment", "specFile", "updatedAt", "params",
                      "stages": [{"name", "key", "seconds", "metrics"}], "series": [{"stage",
                      "name", "points"}], "audio": [{"stage", "name", "path", "bytes"}]}],
                      "differingParams", "differingStages"}
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
  // compare only reads: a cache that is not there holds no run, and is not created by looking.
  if (!existsSync(cache)) {
    throw new PipeError(`no cache at ${relative(io.cwd, cache) || '.'}, so no finished run to compare`, {
      code: 'E_COMPARE_NO_RUN',
      hint: 'run an experiment first (gpt2o-pipe run), or pass --cache when the cache is elsewhere',
    });
  }
  const store = CacheStore.open(cache, { create: false });
  const specFiles = positionals.map((p) => resolve(io.cwd, p));
  const { comparison, missing } = await collectComparison(store, { specFiles, projectRoot });
  if (missing.length > 0) {
    throw new PipeError(
      `no finished run of ${missing.map((f) => relative(io.cwd, f)).join(', ')} in ${relative(io.cwd, store.root) || '.'}`,
      {
        code: 'E_COMPARE_NO_RUN',
        hint: `run it first: gpt2o-pipe run ${relative(io.cwd, missing[0]!)}`,
      },
    );
  }
  if (comparison.experiments.length === 0) {
    throw new PipeError('no experiment of this project has a finished run to compare', {
      code: 'E_COMPARE_NO_RUN',
      hint: 'run one first (gpt2o-pipe run), or pass --cache when the cache is elsewhere',
    });
  }
  if (htmlFile) {
    const { renderReport } = await import('../../compare/html.ts');
    const file = htmlFile;
    writeReport(file, renderReport(comparison));
    if (!values.json) io.stderr(`compare: wrote ${relative(io.cwd, file)}\n`);
  }
  if (values.json) {
    io.stdout(`${JSON.stringify(comparison)}\n`);
    return EXIT_OK;
  }
  io.stdout(values.md ? formatMarkdown(comparison) : formatTable(comparison));
  if (values.plot) io.stdout(`\n${formatPlot(comparison)}`);
  return EXIT_OK;
}
