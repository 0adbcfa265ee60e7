// Renders the bench results as a plain-text report: one small table per section, then the graded
// targets. The --json output is built in run.ts from the same result objects.
import { mib } from './big-file.ts';
import type { Check } from './checks.ts';
import type { HashResult, HashRow } from './hashing.ts';
import type { MachineInfo } from './machine.ts';
import type { NoopResult } from './noop.ts';
import type { StatusLargeResult } from './status-large.ts';
import type { Sample } from './timing.ts';

export interface BenchResults {
  machine: MachineInfo;
  options: { repeat: number; small: boolean; bigFileBytes: number };
  noop: { linear7: NoopResult; wide200: NoopResult };
  hashing: HashResult;
  statusLarge: StatusLargeResult;
  checks: Check[];
}

/** The whole text report. */
export function formatReport(r: BenchResults): string {
  const m = r.machine;
  const size = mib(r.options.bigFileBytes);
  const lines = [
    `gpt2o-pipe bench: ${r.options.repeat} timed run(s) per measurement; times in ms as min / median; ratios use medians`,
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}, ${m.platform}`,
    '',
    '1. No-op of a fully built pipeline (cold = one build from scratch, for information)',
    ...formatNoop(r.noop.linear7, r.checks),
    ...formatNoop(r.noop.wide200, r.checks),
    `2. Hashing ${size} MiB from page cache (GB/s = 1e9 bytes/s, from the median)`,
    ...formatHashing(r.hashing, r.checks),
    `3. status with nothing changed over ${2 * size} MiB (a ${size} MiB dep and its copy as an out)`,
    ...formatStatusLarge(r.statusLarge, r.checks),
    formatSummary(r.checks),
    ...r.checks.map((c) => `  ${c.id.padEnd(31)} ${formatCheck(c)}`),
  ];
  return `${lines.join('\n')}\n`;
}

function formatNoop(n: NoopResult, checks: Check[]): string[] {
  const row = (tool: string, cold: number | null | undefined, sample: Sample | null, installed = true) =>
    installed && sample
      ? [tool, cold == null ? '-' : ms(cold), ms(sample.minMs), ms(sample.medianMs)]
      : [tool, 'not installed', '', ''];
  const table = formatTable(
    ['tool', 'cold', 'min', 'median'],
    [
      row('gpt2o-pipe run', n.coldMs.gpt2oPipe, n.noop.gpt2oPipeRun),
      row('gpt2o-pipe status', null, n.noop.gpt2oPipeStatus),
      row('snakemake --cores 1 -q', n.coldMs.snakemake, n.noop.snakemake, n.noop.snakemake !== null),
      row('make', n.coldMs.make, n.noop.make, n.noop.make !== null),
    ],
  );
  return [
    `  ${n.id}: ${n.label}`,
    ...table.map((l) => `    ${l}`),
    `    run / snakemake     ${formatCheck(findCheck(checks, `noop.${n.id}.run_vs_snakemake`))}`,
    `    run / make          ${times(n.ratios.runVsMake, 'make not installed')}`,
    `    status / snakemake  ${times(n.ratios.statusVsSnakemake, 'snakemake not installed')}`,
    '',
  ];
}

function formatHashing(h: HashResult, checks: Check[]): string[] {
  const row = (r: HashRow) =>
    r.sample
      ? [r.tool, ms(r.sample.minMs), ms(r.sample.medianMs), (r.gbPerS ?? 0).toFixed(2)]
      : [r.tool, 'not installed', '', ''];
  const table = formatTable(
    ['tool', 'min', 'median', 'GB/s'],
    [row(h.rows.ours), row(h.rows.xxhsum), row(h.rows.b3sum), row(h.rows.b3sumOneThread)],
  );
  const match =
    h.digestMatchesXxhsum === null ? 'xxhsum not installed' : h.digestMatchesXxhsum ? 'yes' : 'NO';
  return [
    ...table.map((l) => `    ${l}`),
    `    digest equals xxhsum -H2's: ${match}`,
    `    hashFile / xxhsum   ${formatCheck(findCheck(checks, 'hashing.ours_vs_xxhsum'))}`,
    '',
  ];
}

function formatStatusLarge(s: StatusLargeResult, checks: Check[]): string[] {
  const table = formatTable(
    ['command', 'cold', 'min', 'median'],
    [
      ['gpt2o-pipe run (cold, hashes)', ms(s.coldRunMs), '', ''],
      ['gpt2o-pipe status', '-', ms(s.status.minMs), ms(s.status.medianMs)],
    ],
  );
  return [
    ...table.map((l) => `    ${l}`),
    `    status median       ${formatCheck(findCheck(checks, 'status_large.status_ms'))}`,
    '',
  ];
}

function formatSummary(checks: Check[]): string {
  const count = (v: Check['verdict']) => checks.filter((c) => c.verdict === v).length;
  return `Targets: ${count('PASS')} PASS, ${count('FAIL')} FAIL, ${count('SKIP')} SKIP`;
}

/** `0.12x  (target <= 0.5x)  PASS`, or the reason it was skipped. */
function formatCheck(c: Check): string {
  const unit = c.unit === 'x' ? 'x' : ' ms';
  const value = c.value === null ? 'n/a' : `${c.unit === 'x' ? c.value.toFixed(2) : ms(c.value)}${unit}`;
  const verdict = c.note === null ? c.verdict : `${c.verdict} (${c.note})`;
  return `${value.padStart(8)}  (target ${c.op} ${c.target}${unit})  ${verdict}`;
}

function findCheck(checks: Check[], id: string): Check {
  const check = checks.find((c) => c.id === id);
  if (!check) throw new Error(`internal: no check ${id}`);
  return check;
}

/** Left-aligns the first column and right-aligns the others. */
function formatTable(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) =>
    r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

function ms(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function times(value: number | null, missing: string): string {
  return value === null ? missing : `${value.toFixed(2)}x`.padStart(8);
}
