// Argument parsing with node:util parseArgs (no dependency, no start-up cost); usage errors exit 2.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { PipeError } from '../errors.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  cache: { type: 'string' },
} as const satisfies Options;

/** Parses a subcommand's arguments; unknown flags are usage errors that name the command's help. */
export function parseCommandArgs<O extends Options>(command: string, args: string[], options: O) {
  try {
    return parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new PipeError(`${command}: ${(error as Error).message}`, {
      code: 'E_USAGE',
      hint: `see \`gpt2o-pipe ${command} --help\``,
    });
  }
}

/**
 * `experiments/demo.yaml` when it exists, else `pipeline.yaml`, of the project the working folder
 * is in (the nearest folder upwards with a pipeline.yaml; the working folder when there is none).
 */
export function defaultExperiment(cwd: string): string {
  const root = findProjectRoot(cwd) ?? cwd;
  const demo = resolve(root, 'experiments/demo.yaml');
  return existsSync(demo) ? demo : resolve(root, 'pipeline.yaml');
}

/** The nearest folder at or above `cwd` that holds a pipeline.yaml, or undefined. */
export function findProjectRoot(cwd: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pipeline.yaml'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** A positional that names a spec file rather than a stage. */
export function looksLikeSpecFile(arg: string, cwd: string): boolean {
  return /\.ya?ml$/i.test(arg) || (arg.includes('/') && existsSync(resolve(cwd, arg)));
}

/** `--jobs` as a positive integer. */
/**
 * How many worker threads a built-in stage may start (StageContext.workers): GPT2O_WORKERS, else
 * `fallback` (one per core). The one place the engine reads that variable; run and watch pass the
 * number down to the stages, so no stage reads the environment for it.
 */
export function parseWorkers(env: NodeJS.ProcessEnv, fallback: number): number {
  const value = env.GPT2O_WORKERS;
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new PipeError(`GPT2O_WORKERS must be a positive integer, got "${value}"`, {
      code: 'E_USAGE',
      hint: 'for example GPT2O_WORKERS=2, or unset it for one worker thread per core',
    });
  }
  return n;
}

export function parseJobs(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new PipeError(`--jobs must be a positive integer, got "${value}"`, {
      code: 'E_USAGE',
      hint: 'for example --jobs 4',
    });
  }
  return n;
}
