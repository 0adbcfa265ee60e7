// Real temp workspaces built from object literals, and two ways to drive the CLI: in-process
// through runMain (fast, same code path) and as a real process through the built binary.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMain } from '../../src/cli/main.ts';
import type { StageRegistry } from '../../src/stage-api/index.ts';
import { builtinStages } from '../../stages/index.ts';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// Each test process gets its own empty parse cache, so the cache-miss path (the YAML parser) and
// the hit path both run, and nothing depends on what earlier runs left in ~/.cache.
process.env.GPT2O_PARSE_CACHE = mkdtempSync(join(tmpdir(), 'gpt2o-parsed-'));
// The same for the memo of validated records and manifests (src/cache/validated-files.ts).
process.env.GPT2O_VALIDATED_CACHE = mkdtempSync(join(tmpdir(), 'gpt2o-validated-'));
// And for the no-op journals the built CLI keeps (src/cli/commands/run-noop.ts).
process.env.GPT2O_NOOP_JOURNAL = mkdtempSync(join(tmpdir(), 'gpt2o-noop-'));
export const BIN = join(REPO, 'bin', 'gpt2o-pipe.js');

export interface Workspace {
  dir: string;
  path(rel: string): string;
  write(rel: string, content: string): void;
  read(rel: string): string;
  remove(): void;
}

/** A temp folder with the given files (paths relative to it). */
export function makeWorkspace(files: Record<string, string>): Workspace {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2o-test-'));
  const ws: Workspace = {
    dir,
    path: (rel) => join(dir, rel),
    write(rel, content) {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), content);
    },
    read: (rel) => readFileSync(join(dir, rel), 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  for (const [rel, content] of Object.entries(files)) ws.write(rel, content);
  return ws;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process, as a user would type `gpt2o-pipe ...args` in `cwd`. */
export async function cli(
  cwd: string,
  args: string[],
  options: { registry?: StageRegistry; env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runMain(args, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    cwd,
    env: options.env ?? { ...process.env, GPT2O_CACHE: '' },
    isTTY: false,
    registry: options.registry ?? builtinStages,
    signal: options.signal ?? new AbortController().signal,
  });
  return { code, stdout, stderr };
}

/** `run --json` in-process, parsed; the stage statuses by name. */
export async function runJson(cwd: string, args: string[] = [], registry?: StageRegistry) {
  const result = await cli(cwd, ['run', ...args, '--json'], { registry });
  let parsed: {
    experiment: string;
    ok: boolean;
    stages: { name: string; status: string; key: string | null; seconds: number }[];
  };
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new Error(`run --json printed no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  const status = Object.fromEntries(parsed.stages.map((s) => [s.name, s.status]));
  return { ...result, json: parsed, status };
}

/** Runs the built binary as a child process (for signals, concurrency and the smoke test). */
export function spawnCli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, GPT2O_CACHE: '', CI: '1', ...env },
  });
}

/**
 * Starts the built binary: `output()` is what it printed so far (for waiting on a line while it
 * runs), `finished` resolves with its exit code and all it printed when it exits.
 */
export function startCli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawnCli(cwd, args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const finished = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, output: () => ({ stdout, stderr }), finished };
}

/** Runs the built binary to completion. */
export function execCli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd, env: { ...process.env, GPT2O_CACHE: '', CI: '1', ...env } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Lines of a counter file that stages append to, to count how often each one really ran. */
export function countLines(path: string, word?: string): number {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return 0;
  }
  return text.split('\n').filter((l) => l !== '' && (word === undefined || l === word)).length;
}
