// Wall-clock timing of subprocesses and async calls: each measurement is repeated and summarized as
// min (the least disturbed run) and median (the typical one), in milliseconds.
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export interface Sample {
  minMs: number;
  medianMs: number;
  samplesMs: number[];
}

/** A subprocess to time; its stdout goes to /dev/null, its stderr is kept for error messages. */
export interface Command {
  label: string;
  file: string;
  args: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

/** Min and median of a list of durations. */
export function summarize(samplesMs: number[]): Sample {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { minMs: sorted[0]!, medianMs: median, samplesMs };
}

/** Runs a command once, untimed, and returns its output; throws with its stderr if it fails. */
export function runCommand(command: Command): SpawnSyncReturns<string> {
  const result = spawnSync(command.file, command.args, {
    cwd: command.cwd,
    env: command.env,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assertSucceeded(command, result);
  return result;
}

/** Runs a command once and returns its wall time in ms (stdout discarded, as a user would pipe it). */
export function timeCommandOnce(command: Command): number {
  const start = performance.now();
  const result = spawnSync(command.file, command.args, {
    cwd: command.cwd,
    env: command.env,
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  const elapsed = performance.now() - start;
  assertSucceeded(command, result);
  return elapsed;
}

/**
 * Times several commands `repeat` times each, interleaved (a, b, c, a, b, c, ...), so that a slow
 * patch on a noisy machine hits every tool alike instead of one tool's whole series.
 */
export function timeCommandsInterleaved(commands: Command[], repeat: number): Sample[] {
  const samples: number[][] = commands.map(() => []);
  for (let i = 0; i < repeat; i++) {
    commands.forEach((command, j) => {
      samples[j]!.push(timeCommandOnce(command));
    });
  }
  return samples.map(summarize);
}

/** Times an async call `repeat` times, one after another. */
export async function timeAsync(fn: () => Promise<unknown>, repeat: number): Promise<Sample> {
  const samples: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return summarize(samples);
}

/** Waits, e.g. to let files age past the stat cache's racy window. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function assertSucceeded(command: Command, result: SpawnSyncReturns<string>): void {
  if (result.error) throw new Error(`${command.label}: could not start (${result.error.message})`);
  if (result.status !== 0) {
    const stderr = (result.stderr ?? '').trim().split('\n').slice(-20).join('\n');
    throw new Error(
      `${command.label}: exited with ${result.status ?? result.signal} in ${command.cwd}\n` +
        `  $ ${command.file} ${command.args.join(' ')}\n${stderr}`,
    );
  }
}
