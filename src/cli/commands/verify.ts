// `gpt2o-pipe verify [--repair]`: rehash the whole cache and check its records and trees.
import { relative } from 'node:path';
import { withMaintenance } from '../../cache/maintenance.ts';
import { CacheStore } from '../../cache/store.ts';
import { type VerifyProgress, type VerifyReport, verifyCache } from '../../cache/verify/index.ts';
import { EXIT_OK, EXIT_STAGE_FAILED, PipeError } from '../../errors.ts';
import { formatBytes, formatSeconds } from '../../util/format.ts';
import { parseCommandArgs } from '../args.ts';
import type { CliIo } from '../io.ts';
import { projectCache } from '../workspace.ts';

export const VERIFY_HELP = `Usage: gpt2o-pipe verify [options]

Checks the cache: rehashes every object and compares it with its name, checks that every
run record is readable and complete and that every object of its output tree exists and
is intact, and that every materialized tree matches its manifest. Prints each problem
with its path, digest and reason. Exits 0 when the cache is clean, 1 when problems were found.

  --repair            move corrupt objects, unreadable refs and entries the cache does not name
                      to cache/quarantine/ (kept for inspection), delete broken trees and the
                      run records that need a corrupt or missing object, and drop stages from
                      refs whose results are gone (the next run recomputes those stages);
                      refused while a run is active
  --json              print {"ok", "objects", "records", "trees", "bytes", "problems":
                      [{"kind", "path", "digest", "reason"}], "repaired": {"quarantined",
                      "records", "trees", "refs"}}
  --cache DIR         cache folder (default: $GPT2O_CACHE, else ./cache)
`;

const OPTIONS = {
  repair: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** Progress shows only on an interactive stderr, and only once a check has run this long. */
const PROGRESS_AFTER_MS = 500;
const PROGRESS_EVERY_MS = 200;

export async function verifyCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('verify', args, OPTIONS);
  if (values.help) {
    io.stdout(VERIFY_HELP);
    return EXIT_OK;
  }
  if (positionals.length > 0) {
    throw new PipeError(`verify takes no arguments, got "${positionals[0]}"`, {
      code: 'E_USAGE',
      hint: 'see `gpt2o-pipe verify --help`',
    });
  }
  // verify only reads (a missing cache is an empty one); --repair holds the cache like gc does.
  const store = CacheStore.open(projectCache(io, values.cache).cache, { create: false });
  const repair = values.repair === true;

  const started = Date.now();
  const progress = progressLine(io, started);
  const report = repair
    ? await withMaintenance(store, { name: 'verify --repair', busyCode: 'E_VERIFY_BUSY' }, () =>
        verifyCache(store, { repair, onProgress: progress.show }),
      )
    : await verifyCache(store, { repair, onProgress: progress.show });
  progress.clear();
  if (values.json) io.stdout(`${JSON.stringify(report)}\n`);
  else printReport(io, store, report, { started, repair });
  return report.ok ? EXIT_OK : EXIT_STAGE_FAILED;
}

/** "verify: hashed …" on an interactive stderr, once a check has run a while, rewritten in place. */
function progressLine(io: CliIo, started: number) {
  let shown = 0;
  let progressed = false;
  const interactive = process.stderr.isTTY === true && io.env.CI === undefined;
  return {
    show: interactive
      ? (p: VerifyProgress) => {
          const now = Date.now();
          if (now - started < PROGRESS_AFTER_MS || now - shown < PROGRESS_EVERY_MS) return;
          shown = now;
          progressed = true;
          io.stderr(
            `\rverify: hashed ${p.objects}/${p.totalObjects} objects, ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}\x1b[K`,
          );
        }
      : undefined,
    clear: () => {
      if (progressed) io.stderr('\r\x1b[K');
    },
  };
}

/** The summary line, a line per problem, and what was repaired or what to do. */
function printReport(
  io: CliIo,
  store: CacheStore,
  report: VerifyReport,
  run: { started: number; repair: boolean },
): void {
  const show = (path: string) => relative(io.cwd, path) || '.';
  const seconds = formatSeconds((Date.now() - run.started) / 1000);
  io.stdout(
    `verify: ${report.objects} objects (${formatBytes(report.bytes)}), ${report.records} run records, ${report.trees} trees in ${seconds}: ` +
      `${report.ok ? 'ok' : `${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`}\n`,
  );
  for (const p of report.problems) {
    io.stdout(`  ✖ ${p.kind.padEnd(6)} ${show(p.path)}${p.digest ? ` (${p.digest})` : ''}: ${p.reason}\n`);
  }
  if (run.repair) {
    const r = report.repaired;
    io.stdout(
      `repaired: ${r.quarantined} object${r.quarantined === 1 ? '' : 's'} moved to ${show(store.layout.dir('quarantine'))}, ` +
        `${r.records} run record${r.records === 1 ? '' : 's'} and ${r.trees} tree${r.trees === 1 ? '' : 's'} removed, ${r.refs} ref${r.refs === 1 ? '' : 's'} repaired; ` +
        'the next run recomputes what they held\n',
    );
  } else if (!report.ok) {
    io.stdout(
      'run `gpt2o-pipe verify --repair` to quarantine corrupt objects and drop what depends on them\n',
    );
  }
}
