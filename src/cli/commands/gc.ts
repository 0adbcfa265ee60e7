// `gpt2o-pipe gc [--dry-run]`: drop cache entries no experiment's latest run references.
import { existsSync } from 'node:fs';
import { collectGarbage } from '../../cache/gc.ts';
import { withMaintenance } from '../../cache/maintenance.ts';
import { CacheStore } from '../../cache/store.ts';
import { EXIT_OK, PipeError } from '../../errors.ts';
import { formatBytes } from '../../util/format.ts';
import { parseCommandArgs } from '../args.ts';
import type { CliIo } from '../io.ts';
import { projectCache } from '../workspace.ts';

export const GC_HELP = `Usage: gpt2o-pipe gc [options]

Removes cached results that no experiment's latest run references (objects, run records,
output trees, logs), refs of experiment files that no longer exist, and temp files left by
killed runs. Refuses to run while a \`run\` is using the cache; a \`run\` started while gc
works waits for it. Removes only entries the cache itself names (never other files).

  --dry-run           report what would be removed; remove nothing
  --json              print the report as JSON
  --cache DIR         cache folder (default: $GPT2O_CACHE, else cache/ beside the project's
                      pipeline.yaml, found from the working folder upwards)
`;

const OPTIONS = {
  'dry-run': { type: 'boolean', short: 'n' },
  json: { type: 'boolean' },
} as const;

export async function gcCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('gc', args, OPTIONS);
  if (values.help) {
    io.stdout(GC_HELP);
    return EXIT_OK;
  }
  if (positionals.length > 0) {
    throw new PipeError(`gc takes no arguments, got "${positionals[0]}"`, {
      code: 'E_USAGE',
      hint: 'see `gpt2o-pipe gc --help` (the cache is chosen with --cache DIR)',
    });
  }
  const dryRun = values['dry-run'] === true;
  const store = CacheStore.open(projectCache(io, values.cache).cache, { create: false });
  // No cache yet: nothing to collect (and no cache/ is made for it).
  const report = !existsSync(store.root)
    ? collectGarbage(store, { dryRun: true })
    : await withMaintenance(store, { name: 'gc', busyCode: 'E_GC_BUSY' }, async () =>
        collectGarbage(store, { dryRun }),
      );
  if (values.json) {
    io.stdout(`${JSON.stringify({ dryRun, ...report })}\n`);
    return EXIT_OK;
  }
  const r = report.removed;
  const verb = dryRun ? 'would remove' : 'removed';
  io.stdout(
    `gc: kept ${report.keptRecords} results (${report.keptObjects} objects, ${formatBytes(report.keptBytes)}); ` +
      `${verb} ${r.objects} objects, ${r.records} run records, ${r.trees} trees, ${r.logs} logs, ${r.tmp} temp entries, ${r.resume} resume folders, ${r.locks} stale locks (${formatBytes(r.bytes)})\n`,
  );
  for (const file of report.droppedExperiments)
    io.stdout(`  ${verb} the ref of ${file} (the file no longer exists)\n`);
  return EXIT_OK;
}
