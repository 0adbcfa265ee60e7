// Command-line options of `npm run bench`, normalized once here so the sections see plain values.
import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** Timed repetitions of every measurement (min and median are reported). */
  repeat: number;
  /** Hash a 256 MiB file instead of 1 GiB, for quick runs. */
  small: boolean;
  /** Print one JSON object on stdout instead of the text report. */
  json: boolean;
}

export const USAGE = `Usage: npm run bench -- [--repeat N] [--small] [--json]

  --repeat N   timed repetitions of each measurement (default 7)
  --small      use a 256 MiB file instead of 1 GiB for the hashing and status sections
  --json       print one JSON object on stdout (progress still goes to stderr)
`;

/** Parses argv; returns undefined after printing usage for --help. */
export function parseBenchArgs(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      repeat: { type: 'string', short: 'r' },
      small: { type: 'boolean' },
      json: { type: 'boolean' },
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
  return { repeat, small: values.small === true, json: values.json === true };
}
