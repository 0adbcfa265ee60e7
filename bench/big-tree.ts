// Section "big tree": one stage whose output is a folder of many 1 KiB files (100,000 by default,
// --tree-files N), on tmpfs (/dev/shm) where there is one, so the disk does not set the pace. Timed:
// the bare command, the cold run that stores the tree, the fully cached run and `status` against
// Snakemake's no-op of the same rule, and `verify`'s peak memory.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type Check, grade, ratio } from './checks.ts';
import { runWithPeakRss } from './peak-rss.ts';
import {
  type Command,
  runCommand,
  type Sample,
  sleep,
  summarize,
  timeCommandOnce,
  timeCommandsInterleaved,
} from './timing.ts';
import { isInstalled, pipeCommand, pipeToolCommand, snakemakeCommand } from './tools.ts';

export interface BigTreeResult {
  files: number;
  /** Where the projects and their caches lived (tmpfs when there is one). */
  folder: string;
  repeat: number;
  bare: Sample;
  cold: Sample;
  cached: Sample;
  status: Sample;
  /** Snakemake's cold build (once, for information) and no-op; null when not installed. */
  snakemakeColdMs: number | null;
  snakemakeNoop: Sample | null;
  verify: { wallMs: number; peakMB: number | null };
  ratios: { coldVsBare: number; cachedVsSnakemake: number | null };
}

export const BIG_TREE_TARGETS = { coldVsBare: 3, cachedVsSnakemake: 0.5, verifyPeakMB: 200 };
/** Each cold run stores the whole tree again: at most this many of them. */
const MAX_REPEAT = 5;
// NOTE: the objects a cold run stores are linked into its tree, which moves their ctime; the stat
// cache takes no file changed in the last 2 s, so the bench waits before the first cached run.
const RACY_WAIT_MS = 2500;

/** Writes `files` distinct files of 1,024 bytes (the number, zero-padded) into out/, with awk. */
export function treeCommand(files: number): string {
  return `mkdir -p out && awk 'BEGIN { for (i = 0; i < ${files}; i++) { f = sprintf("out/%07d.txt", i); printf "%01024d", i > f; close(f) } }'`;
}

export async function benchBigTree(
  files: number,
  repeat: number,
  log: (line: string) => void,
): Promise<BigTreeResult> {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const root = mkdtempSync(join(base, 'gpt2o-pipe-bench-tree-'));
  const runs = Math.min(repeat, MAX_REPEAT);
  try {
    const cmd = treeCommand(files);
    const bareDir = project(join(root, 'bare'), {});
    const pipeDir = project(join(root, 'gpt2o-pipe'), {
      'pipeline.yaml': stringify({ stages: { many: { cmd, outs: ['out'] } } }),
    });
    const bare: Command = { label: 'bare command', file: 'sh', args: ['-c', cmd], cwd: bareDir };

    log(`big tree (${files} files in ${base}): bare command and cold run, ${runs}x each`);
    const bareMs: number[] = [];
    const coldMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      rmSync(join(bareDir, 'out'), { recursive: true, force: true });
      bareMs.push(timeCommandOnce(bare));
      for (const name of ['cache', 'runs']) rmSync(join(pipeDir, name), { recursive: true, force: true });
      coldMs.push(timeCommandOnce(pipeCommand('run', pipeDir)));
    }

    let snakeDir = '';
    let snakemakeColdMs: number | null = null;
    if (isInstalled('snakemake')) {
      snakeDir = project(join(root, 'snakemake'), { Snakefile: snakefile(cmd) });
      snakemakeColdMs = timeCommandOnce(snakemakeCommand(snakeDir));
      const dry = runCommand(snakemakeCommand(snakeDir, ['-n']));
      if (!`${dry.stdout}${dry.stderr}`.includes('Nothing to be done'))
        throw new Error(`snakemake in ${snakeDir} has work left after its build:\n${dry.stdout}`);
    }

    await sleep(RACY_WAIT_MS);
    log(`big tree: warm-up run, then cached run, status${snakeDir ? ' and snakemake no-op' : ''}, ${runs}x`);
    assertAllCached(pipeDir);
    const commands = [pipeCommand('run', pipeDir), pipeCommand('status', pipeDir)];
    if (snakeDir) commands.push(snakemakeCommand(snakeDir));
    const [cached, status, snakemakeNoop] = timeCommandsInterleaved(commands, runs);

    log('big tree: verify, with its peak memory');
    const verified = await runWithPeakRss(pipeToolCommand(['verify'], pipeDir));
    const peakMB = verified.peakKiB === null ? null : (verified.peakKiB * 1024) / 1e6;

    const cold = summarize(coldMs);
    const bareSample = summarize(bareMs);
    return {
      files,
      folder: base,
      repeat: runs,
      bare: bareSample,
      cold,
      cached: cached!,
      status: status!,
      snakemakeColdMs,
      snakemakeNoop: snakemakeNoop ?? null,
      verify: { wallMs: verified.wallMs, peakMB },
      ratios: {
        coldVsBare: cold.medianMs / bareSample.medianMs,
        cachedVsSnakemake: ratio(cached!.medianMs, snakemakeNoop?.medianMs),
      },
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export function bigTreeChecks(r: BigTreeResult): Check[] {
  const n = r.files.toLocaleString('en-US');
  return [
    grade(
      {
        id: 'big_tree.cold_vs_bare',
        label: `cold run / bare command, ${n} files`,
        op: '<=',
        target: BIG_TREE_TARGETS.coldVsBare,
        unit: 'x',
      },
      r.ratios.coldVsBare,
    ),
    grade(
      {
        id: 'big_tree.cached_vs_snakemake',
        label: `cached run / snakemake no-op, ${n} files`,
        op: '<=',
        target: BIG_TREE_TARGETS.cachedVsSnakemake,
        unit: 'x',
      },
      r.ratios.cachedVsSnakemake,
      'snakemake not installed',
    ),
    grade(
      {
        id: 'big_tree.verify_peak_mb',
        label: `verify peak RSS, ${n} files`,
        op: '<',
        target: BIG_TREE_TARGETS.verifyPeakMB,
        unit: 'MB',
      },
      r.verify.peakMB,
      'peak RSS cannot be measured here',
    ),
  ];
}

/** The section's table rows for the text report. */
export function formatBigTree(r: BigTreeResult, formatCheck: (id: string) => string): string[] {
  const ms = (v: number) => v.toFixed(0);
  const row = (what: string, s: Sample | null) =>
    s
      ? `    ${what.padEnd(28)} ${ms(s.minMs).padStart(8)} ${ms(s.medianMs).padStart(8)}`
      : `    ${what.padEnd(28)} not installed`;
  return [
    `    ${r.repeat} timed run(s) each (capped at ${MAX_REPEAT}), projects and caches in ${r.folder}`,
    `    ${'command'.padEnd(28)} ${'min'.padStart(8)} ${'median'.padStart(8)}`,
    row('bare command (awk)', r.bare),
    row('gpt2o-pipe run, cold', r.cold),
    row('gpt2o-pipe run, cached', r.cached),
    row('gpt2o-pipe status', r.status),
    row('snakemake no-op', r.snakemakeNoop),
    `    ${'snakemake, cold (once)'.padEnd(28)} ${r.snakemakeColdMs === null ? 'not installed' : ms(r.snakemakeColdMs).padStart(17)}`,
    `    ${'gpt2o-pipe verify (once)'.padEnd(28)} ${ms(r.verify.wallMs).padStart(17)} ms, peak ${r.verify.peakMB === null ? '-' : r.verify.peakMB.toFixed(0)} MB`,
    `    cold / bare         ${formatCheck('big_tree.cold_vs_bare')}`,
    `    cached / snakemake  ${formatCheck('big_tree.cached_vs_snakemake')}`,
    `    verify peak RSS     ${formatCheck('big_tree.verify_peak_mb')}`,
    '',
  ];
}

/** `run --json` must report the stage as cached: the warm-up, and a guard that the timing is a no-op. */
function assertAllCached(dir: string): void {
  const run = JSON.parse(runCommand(pipeCommand('run', dir, ['--json'])).stdout) as {
    stages: { name: string; status: string }[];
  };
  const ran = run.stages.filter((s) => s.status !== 'cached');
  if (ran.length > 0) throw new Error(`gpt2o-pipe run in ${dir}: not all cached: ${JSON.stringify(ran)}`);
}

/** The same rule for Snakemake: braces doubled (its shell strings are format strings). */
function snakefile(cmd: string): string {
  const shell = cmd.replaceAll('{', '{{').replaceAll('}', '}}');
  return `rule many:\n    output: directory("out")\n    shell: r"""${shell}"""\n`;
}

function project(dir: string, files: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}
