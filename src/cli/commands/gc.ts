// `gpt2o-pipe gc [--dry-run]`: drop cache entries no experiment's latest run references.
import { resolve } from 'node:path';
import { liveRuns } from '../../cache/active-runs.ts';
import { collectGarbage } from '../../cache/gc.ts';
import { CacheStore } from '../../cache/store.ts';
import { EXIT_OK, PipeError } from '../../errors.ts';
import { parseCommandArgs } from '../args.ts';
import type { CliIo } from '../io.ts';
import { cacheRoot } from '../workspace.ts';

export const GC_HELP = `Usage: gpt2o-pipe gc [options]

Removes cached results that no experiment's latest run references (objects, run records,
output trees, logs), refs of experiment files that no longer exist, and temp files left by
killed runs. Refuses to run while a \`run\` is using the cache.

  --dry-run           report what would be removed; remove nothing
  --json              print the report as JSON
  --cache DIR         cache folder (default: $GPT2O_CACHE, else ./cache)
`;

const OPTIONS = {
  'dry-run': { type: 'boolean', short: 'n' },
  json: { type: 'boolean' },
} as const;

export async function gcCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('gc', args, OPTIONS);
  if (values.help) {
    io.stdout(GC_HELP);
    return EXIT_OK;
  }
  const store = CacheStore.open(cacheRoot(io, resolve(io.cwd), values.cache));
  const busy = liveRuns(store);
  if (busy.length > 0) {
    throw new PipeError(`the cache is in use by a running \`gpt2o-pipe run\` (pid ${busy.join(', ')})`, {
      code: 'E_GC_BUSY',
      hint: 'run gc again when it has finished',
    });
  }
  const dryRun = values['dry-run'] === true;
  const report = collectGarbage(store, { dryRun });
  if (values.json) {
    io.stdout(`${JSON.stringify({ dryRun, ...report })}\n`);
    return EXIT_OK;
  }
  const r = report.removed;
  const verb = dryRun ? 'would remove' : 'removed';
  io.stdout(
    `gc: kept ${report.keptRecords} results (${report.keptObjects} objects, ${mib(report.keptBytes)}); ` +
      `${verb} ${r.objects} objects, ${r.records} run records, ${r.trees} trees, ${r.logs} logs, ${r.tmp} temp entries, ${r.resume} resume folders, ${r.locks} stale locks (${mib(r.bytes)})\n`,
  );
  for (const file of report.droppedExperiments)
    io.stdout(`  ${verb} the ref of ${file} (the file no longer exists)\n`);
  return EXIT_OK;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
