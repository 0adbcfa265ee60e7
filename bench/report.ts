// Renders the bench results as a plain-text report: one small table per section, then the graded
// targets. The --json output is built in run.ts from the same result objects.
import { mib } from './big-file.ts';
import { type BigTreeResult, formatBigTree } from './big-tree.ts';
import type { Check } from './checks.ts';
import type { ColdJobsResult } from './cold-jobs.ts';
import type { HashResult, HashRow } from './hashing.ts';
import type { MachineInfo } from './machine.ts';
import type { NoopResult } from './noop.ts';
import type { PeerInfo } from './peers.ts';
import type { ShapeId } from './pipelines.ts';
import { MAX_REPEAT, type ResampleResult, type ResampleRow } from './resample.ts';
import type { StatusLargeResult } from './status-large.ts';
import type { SweepBenchResult } from './sweep.ts';
import type { Sample } from './timing.ts';
import type { TokenizeResult } from './tokenize.ts';
import { describeTorchPeer } from './torch-peer.ts';
import type { TrainResult } from './train.ts';

export interface BenchResults {
  machine: MachineInfo;
  /** Each command-line peer's version and how it runs (null version: not installed). */
  peers: PeerInfo[];
  /** Peers that did not run at their best, or not at all: printed at the top, never silent. */
  warnings: string[];
  options: {
    repeat: number;
    small: boolean;
    bigFileBytes: number;
    treeFiles: number;
    baseline: string | null;
  };
  noop: Record<ShapeId, NoopResult>;
  coldJobs: ColdJobsResult;
  hashing: HashResult;
  statusLarge: StatusLargeResult;
  bigTree: BigTreeResult;
  resample: ResampleResult;
  tokenize: TokenizeResult;
  train: TrainResult;
  sweep: SweepBenchResult;
  checks: Check[];
}

/** The whole text report. */
export function formatReport(r: BenchResults): string {
  const m = r.machine;
  const size = mib(r.options.bigFileBytes);
  const lines = [
    `gpt2o-pipe bench: ${r.options.repeat} timed run(s) per measurement; times in ms as min / median; ratios use medians`,
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}, ${m.platform}`,
    'peers:',
    ...r.peers.map(
      (p) => `  ${p.name.padEnd(10)} ${p.version === null ? 'NOT INSTALLED' : `${p.version}; ${p.how}`}`,
    ),
    `  ${'pytorch'.padEnd(10)} ${r.train.torchPeer ? describeTorchPeer(r.train.torchPeer) : 'NOT INSTALLED (/usr/bin/python3 cannot import torch)'}`,
    ...(r.options.baseline ? [`baseline (no-ops and cold builds): ${r.options.baseline}`] : []),
    ...r.warnings.map((w) => `WARNING: ${w}`),
    '',
    '1. No-op of a fully built pipeline (cold = one build from scratch, for information)',
    ...Object.values(r.noop).flatMap((n) => formatNoop(n, r.checks)),
    ...formatColdJobs(r.coldJobs, r.checks),
    `2. Hashing ${size} MiB from page cache (GB/s = 1e9 bytes/s, from the median)`,
    ...formatHashing(r.hashing, r.checks),
    `3. status with nothing changed over ${2 * size} MiB (a ${size} MiB dep and its copy as an out)`,
    ...formatStatusLarge(r.statusLarge, r.checks),
    `3b. One stage whose output is a folder of ${r.bigTree.files.toLocaleString('en-US')} files of 1 KiB`,
    ...formatBigTree(r.bigTree, (id) => formatCheck(findCheck(r.checks, id))),
    ...formatResample(r.resample, r.checks),
    ...formatTokenize(r.tokenize, r.checks),
    ...formatTrain(r.train),
    ...formatSweep(r.sweep),
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
      row('gpt2o-pipe run, journal off', null, n.noop.gpt2oPipeRunFull),
      row('gpt2o-pipe status', null, n.noop.gpt2oPipeStatus),
      row(
        `snakemake --cores 1 -q${n.snakefile === 'wildcard' ? ' (wildcard rule)' : ''}`,
        n.coldMs.snakemake,
        n.noop.snakemake,
        n.noop.snakemake !== null,
      ),
      row('make', n.coldMs.make, n.noop.make, n.noop.make !== null),
      ...(n.noop.loaded
        ? [
            row(`run, ${n.noop.loaded.burners} cores loaded`, null, n.noop.loaded.run),
            row('snakemake, cores loaded', null, n.noop.loaded.snakemake, n.noop.loaded.snakemake !== null),
          ]
        : []),
      ...(n.noop.baseline
        ? [
            row('baseline run', null, n.noop.baseline.run),
            row('baseline status', null, n.noop.baseline.status),
          ]
        : []),
    ],
  );
  return [
    `  ${n.id}: ${n.label}`,
    ...table.map((l) => `    ${l}`),
    `    run / snakemake     ${formatCheck(findCheck(checks, `noop.${n.id}.run_vs_snakemake`))}`,
    `    journal off / snakemake ${times(n.ratios.fullRunVsSnakemake, 'snakemake not installed')}`,
    ...(n.noop.loaded
      ? [
          `    loaded / snakemake loaded ${formatCheck(findCheck(checks, `noop.${n.id}.loaded_run_vs_snakemake`))}`,
        ]
      : []),
    `    run / make          ${times(n.ratios.runVsMake, 'make not installed')}`,
    `    status / snakemake  ${times(n.ratios.statusVsSnakemake, 'snakemake not installed')}`,
    ...(n.noop.baseline
      ? [
          `    run / baseline      ${times(n.ratios.runVsBaseline, '')}`,
          `    journal off / baseline ${times(n.ratios.fullRunVsBaseline, '')}`,
          `    status / baseline   ${times(n.ratios.statusVsBaseline, '')}`,
        ]
      : []),
    '',
  ];
}

function formatColdJobs(c: ColdJobsResult, checks: Check[]): string[] {
  const table = formatTable(
    ['gpt2o-pipe run, cold', 'min', 'median'],
    [
      ['--jobs 1', ms(c.jobs1.minMs), ms(c.jobs1.medianMs)],
      ['--jobs 2', ms(c.jobs2.minMs), ms(c.jobs2.medianMs)],
      ...(c.baseline
        ? [
            ['baseline --jobs 1', ms(c.baseline.jobs1.minMs), ms(c.baseline.jobs1.medianMs)],
            ['baseline --jobs 2', ms(c.baseline.jobs2.minMs), ms(c.baseline.jobs2.medianMs)],
          ]
        : []),
    ],
  );
  return [
    `  cold builds of ${c.stages.toLocaleString('en-US')} stages (1,000 independent + 1 join), fresh cache each, in ${c.folder}`,
    ...table.map((l) => `    ${l}`),
    `    jobs 1 / jobs 2     ${formatCheck(findCheck(checks, 'cold.wide1000.jobs2_speedup'))}`,
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

function formatResample(r: ResampleResult, checks: Check[]): string[] {
  const header = [
    `4. Resampling MP3 to ${r.sampleRate / 1000} kHz mono WAV: ${r.audioSeconds} s of 44.1 kHz stereo 128 kbps ` +
      '(realtime = audio s / median s)',
    `    ${r.repeat} timed run(s) (capped at ${MAX_REPEAT}); quality ${r.quality ?? '-'} (the stage default), ` +
      `${r.cores} cores, ${r.workers} worker threads`,
    ...(r.input ? [`    input made by ${r.input.encoder}: ${r.input.path}`] : []),
  ];
  const label = (text: string) => `    ${text.padEnd(26)}`;
  const rssCheck = `${label(`peak RSS, ${r.longSeconds} s file`)}${formatCheck(findCheck(checks, 'resample.peak_rss_mb'))}`;
  const ratioCheck = `${label(`ours / ffmpeg, ${r.chapters} chapters`)}${formatCheck(findCheck(checks, 'resample.chapters_vs_ffmpeg'))}`;
  if (r.skipped !== null) return [...header, `    SKIP: ${r.skipped}`, ratioCheck, rssCheck, ''];
  const seconds = (sample: Sample | null) =>
    sample ? [s3(sample.minMs / 1000), s3(sample.medianMs / 1000)] : ['', ''];
  const peer = (row: ResampleRow) =>
    row.missing === null
      ? [row.tool, ...seconds(row.wall), realtime(row.realtime)]
      : [row.tool, row.missing, '', ''];
  const ours = (row: ResampleRow) => [
    [`${row.tool} (stage)`, ...seconds(row.stage), realtime(row.realtime)],
    ['  whole `run --force resample` command', ...seconds(row.wall), realtime(row.realtimeWall)],
  ];
  const table = formatTable(
    ['tool', 'min s', 'median s', 'realtime'],
    [
      ...ours(r.rows.oursOne),
      ...ours(r.rows.oursChapters),
      peer(r.rows.ffmpegOne),
      peer(r.rows.ffmpegChapters),
      peer(r.rows.soxOne),
    ],
  );
  const m = r.memory;
  const memory = m
    ? `    (${m.copies} copies of the input${m.headersStripped ? ' without their headers' : ''}, ` +
      `${m.decodedSeconds.toFixed(0)} s decoded; ${m.method ?? 'not measured'}; stage ${s3(m.stageSeconds)} s, ` +
      `realtime ${m.realtime.toFixed(0)}x)`
    : '';
  return [
    ...header,
    ...table.map((l) => `    ${l}`),
    `${label('ours / ffmpeg, 1 file')}${times(r.ratios.oursVsFfmpegOne, 'ffmpeg not installed')}`,
    ratioCheck,
    rssCheck,
    memory,
    '',
  ];
}

function formatSummary(checks: Check[]): string {
  const count = (v: Check['verdict']) => checks.filter((c) => c.verdict === v).length;
  return `Targets: ${count('PASS')} PASS, ${count('FAIL')} FAIL, ${count('SKIP')} SKIP`;
}

/** `0.12x  (target <= 0.5x)  PASS`, or the reason it was skipped. */
function formatCheck(c: Check): string {
  const unit = c.unit === 'x' || c.unit === '%' ? c.unit : ` ${c.unit}`;
  const value =
    c.value === null
      ? 'n/a'
      : `${c.unit === 'x' ? c.value.toFixed(2) : c.unit === '%' ? c.value.toFixed(1) : ms(c.value)}${unit}`;
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

function realtime(value: number | null): string {
  return value === null ? '-' : `${value.toFixed(value >= 100 ? 0 : 1)}x`;
}

/** Seconds with 3 significant digits or more. */
function s3(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function times(value: number | null, missing: string): string {
  return value === null ? missing : `${value.toFixed(2)}x`.padStart(8);
}

function formatTrain(r: TrainResult): string[] {
  const rows = r.rows.map((row) => [
    `${row.config}  ${row.runtime}${row.detail ? ` (${row.detail})` : ''}`,
    row.tokensPerSec === null ? (row.note ?? '-') : row.tokensPerSec.toFixed(0),
    row.vsTorch === null ? '' : `${row.vsTorch.toFixed(2)}x`,
  ]);
  return [
    `6. GPT-2 training steps (forward, backward, clip, AdamW) in tokens/s; vs = / PyTorch CPU at its best (${referenceThreads(r)})`,
    '   A: 4 layers, 4 heads, 256 wide, context 512, vocab 4104, micro-batch 4 · B: 2, 2, 128, 256, 4104, 8 · C: 12, 12, 768, 1024, 4160, 1',
    ...formatTable(['config and runtime', 'tok/s', 'vs pytorch'], rows).map((l) => `    ${l}`),
    ...(r.sampling.length
      ? r.sampling.map(
          (s) =>
            `    sampling (config B, ${s.backend}: ${s.detail}): ${s.cachedTokensPerSec.toFixed(0)} tok/s with the KV cache, ${s.uncachedTokensPerSec.toFixed(0)} without (${(s.cachedTokensPerSec / s.uncachedTokensPerSec).toFixed(1)}x)`,
        )
      : ['    sampling: failed']),
    '',
  ];
}

function formatSweep(r: SweepBenchResult): string[] {
  const row = (label: string, side: SweepBenchResult['sweep']) => [
    label,
    `${(side.wallMs / 1000).toFixed(1)} s`,
    String(side.executions),
    String(side.cached),
  ];
  return [
    `7. A sweep of the demo: ${r.variants} variants (4 learning rates × 2 context lengths, ${r.maxSteps} steps each, --jobs ${r.jobs}), fresh cache each side`,
    ...formatTable(
      ['how', 'wall', 'stage executions', 'cached or shared'],
      [row('run --sweep (one graph)', r.sweep), row('8 runs one after another', r.sequential)],
    ).map((l) => `    ${l}`),
    `    one run / one by one: ${(r.sweep.wallMs / r.sequential.wallMs).toFixed(2)}x the time`,
    '',
  ];
}

/** Which thread count gave PyTorch's reference figure, per config. */
function referenceThreads(r: TrainResult): string {
  return Object.entries(r.torchThreads)
    .map(([config, t]) => `${config}: ${t === null ? 'not measured' : `${t} thread${t > 1 ? 's' : ''}`}`)
    .join(', ');
}

function formatTokenize(r: TokenizeResult, checks: Check[]): string[] {
  const check = checks.find((c) => c.id === 'tokenize.overhead_percent');
  return [
    `5. tokenize with the test codec (not SNAC): ${r.audioSeconds} s of 24 kHz mono audio, ${r.repeat} timed run(s)`,
    `    stage seconds       ${(r.stage.minMs / 1000).toFixed(2)} min, ${(r.stage.medianMs / 1000).toFixed(2)} median`,
    `    realtime            ${r.realtime.toFixed(0)}x`,
    `    inference share     ${(100 * r.inferenceShare).toFixed(1)}% of the stage in onnxruntime`,
    `    our overhead        ${check ? formatCheck(check) : `${(100 * r.overheadShare).toFixed(1)}%`}`,
    '',
  ];
}
