// The programs the bench compares: where to find them and how to invoke each one. A missing peer
// (snakemake, make, xxhsum, b3sum) is reported as "not installed" and never fails the bench.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from './timing.ts';

const BIN = fileURLToPath(new URL('../bin/gpt2o-pipe.js', import.meta.url));

/** True when an executable with this name is on PATH (checked without starting it). */
export function isInstalled(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/** Environment for our CLI: GPT2O_CACHE is dropped so each bench project keeps its cache beside it. */
function pipeEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.GPT2O_CACHE;
  return env;
}

/**
 * `node bin/gpt2o-pipe.js <sub> pipeline.yaml [...extra]`, run in the project folder; `bin`: the
 * entry point of another build (bench --baseline).
 */
export function pipeCommand(sub: 'run' | 'status', cwd: string, extra: string[] = [], bin = BIN): Command {
  return {
    label: bin === BIN ? `gpt2o-pipe ${sub}` : `baseline ${sub}`,
    file: process.execPath,
    args: [bin, sub, 'pipeline.yaml', ...extra],
    cwd,
    env: pipeEnv(),
  };
}

/**
 * `run` with no-op journals off (GPT2O_NOOP_JOURNAL=off): what a fully cached run costs the first
 * time after a change, when the full path plans and serves every stage.
 */
export function pipeRunWithoutJournal(cwd: string): Command {
  const command = pipeCommand('run', cwd);
  return {
    ...command,
    label: 'gpt2o-pipe run, journal off',
    env: { ...command.env, GPT2O_NOOP_JOURNAL: 'off' },
  };
}

/** `node bin/gpt2o-pipe.js ...args`, run in the project folder (verify, gc: no pipeline file). */
export function pipeToolCommand(args: string[], cwd: string): Command {
  return {
    label: `gpt2o-pipe ${args[0]}`,
    file: process.execPath,
    args: [BIN, ...args],
    cwd,
    env: pipeEnv(),
  };
}

/** Snakemake in its project folder; `--cores 1 -q` is the quiet no-op the peers were timed with. */
export function snakemakeCommand(cwd: string, extra: string[] = []): Command {
  return { label: 'snakemake', file: 'snakemake', args: ['--cores', '1', '-q', ...extra], cwd };
}

/** GNU make in its project folder. */
export function makeCommand(cwd: string, extra: string[] = []): Command {
  return { label: 'make', file: 'make', args: extra, cwd };
}
