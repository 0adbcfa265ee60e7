// Argument parsing with node:util parseArgs (no dependency, no start-up cost); usage errors exit 2.
import { existsSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { PipeError } from '../errors.ts';
import type { StageResources } from '../stage-api/index.ts';

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
 * The machine's resources a built-in stage may use (StageResources): GPT2O_WORKERS worker threads,
 * GPT2O_THREADS threads per ONNX Runtime session (each else one per core) and GPT2O_MEMORY_LIMIT
 * bytes (else the machine's memory). The one place the engine reads these variables: run and watch
 * pass them down through the stage API, so no stage reads the environment for them, and a bad value
 * stops the run before anything starts.
 */
export function parseResources(env: NodeJS.ProcessEnv): StageResources {
  const cores = availableParallelism();
  return {
    workers: positiveInt(
      env,
      'GPT2O_WORKERS',
      cores,
      'for example GPT2O_WORKERS=2, or unset it for one worker thread per core',
    ),
    threads: positiveInt(
      env,
      'GPT2O_THREADS',
      cores,
      'for example GPT2O_THREADS=2, or unset it for one thread per core',
    ),
    memoryBytes: memoryLimit(env),
  };
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, hint: string): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new PipeError(`${name} must be a positive integer, got "${value}"`, { code: 'E_USAGE', hint });
  return n;
}

/** GPT2O_MEMORY_LIMIT: bytes, or with a K, M or G suffix (binary: 1K = 1024; "KiB", "MB" read alike). */
function memoryLimit(env: NodeJS.ProcessEnv): number {
  const value = env.GPT2O_MEMORY_LIMIT?.trim();
  if (!value) return totalmem();
  const match = /^(\d+(?:\.\d+)?)\s*([KMG]?)i?B?$/i.exec(value);
  const bytes = match
    ? Number(match[1]) *
      { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[match[2]!.toUpperCase() as '' | 'K' | 'M' | 'G']
    : Number.NaN;
  if (!(bytes >= 1))
    throw new PipeError(`GPT2O_MEMORY_LIMIT must be a size such as 8G or 512M, got "${value}"`, {
      code: 'E_USAGE',
      hint: "for example GPT2O_MEMORY_LIMIT=16G, or unset it to plan for the machine's memory",
    });
  return bytes;
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
