// Command-line options of `npm run bench`, normalized once here so the sections see plain values.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** Timed repetitions of every measurement (min and median are reported). */
  repeat: number;
  /** Hash a 256 MiB file instead of 1 GiB, for quick runs. */
  small: boolean;
  /** Print one JSON object on stdout instead of the text report. */
  json: boolean;
  /** Files in the big-tree section's output folder. */
  treeFiles: number;
  /** The entry point of another build of gpt2o-pipe to time the no-ops against; undefined: none. */
  baseline: string | undefined;
}

export const USAGE = `Usage: npm run bench -- [--repeat N] [--small] [--tree-files N] [--baseline DIR] [--json]

  --repeat N       timed repetitions of each measurement (default 7)
  --small          use a 256 MiB file instead of 1 GiB for the hashing and status sections,
                   and 20,000 files instead of 100,000 for the big-tree section
  --tree-files N   files in the big-tree section's output folder (default 100000)
  --baseline DIR   also time the no-ops and the cold builds of the gpt2o-pipe checkout in DIR
                   (built), interleaved with this one: before and after a change, in one run
  --json           print one JSON object on stdout (progress still goes to stderr)
`;

/** Parses argv; returns undefined after printing usage for --help. */
export function parseBenchArgs(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      repeat: { type: 'string', short: 'r' },
      small: { type: 'boolean' },
      json: { type: 'boolean' },
      'tree-files': { type: 'string' },
      baseline: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return undefined;
  }
  const repeat = values.repeat === undefined ? 7 : Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) {
    throw new Error(`--repeat must be a positive integer, got "${values.repeat}"`);
  }
  const small = values.small === true;
  const raw = values['tree-files'];
  const treeFiles = raw === undefined ? (small ? 20_000 : 100_000) : Number(raw);
  if (!Number.isInteger(treeFiles) || treeFiles < 1) {
    throw new Error(`--tree-files must be a positive integer, got "${raw}"`);
  }
  const baseline = values.baseline === undefined ? undefined : baselineEntry(values.baseline);
  return { repeat, small, json: values.json === true, treeFiles, baseline };
}

/** The entry point of the checkout at `dir`. */
function baselineEntry(dir: string): string {
  const path = resolve(dir, 'bin', 'gpt2o-pipe.js');
  if (!existsSync(path))
    throw new Error(`--baseline ${dir}: no bin/gpt2o-pipe.js there (a gpt2o-pipe checkout?)`);
  return path;
}
