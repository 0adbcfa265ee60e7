// Section 4: the built-in `resample` stage (MP3 → 24 kHz mono WAV) against ffmpeg and sox on the
// same MP3, as realtime factors (audio seconds / wall seconds). Ours runs through the CLI in a bench
// project (a `fetch` cmd stage copying data/ into audio/, then `uses: resample`) and is timed by the
// stage's own `seconds` from `run --force resample --json`; the peers are timed as whole processes.
// One file, then 4 chapters (our worker threads run them in parallel; ffmpeg runs them one after
// another, as a shell loop would). Last, peak RSS of one run over a 2-hour file.
import { copyFileSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type Check, grade, ratio } from './checks.ts';
import { CHAPTERS, concatMp3, ensureMp3Input, type Mp3Input } from './mp3-input.ts';
import { runWithPeakRss } from './peak-rss.ts';
import { type Command, runCommand, type Sample, summarize, timeCommandOnce } from './timing.ts';
import { isInstalled, pipeCommand } from './tools.ts';

export interface ResampleRow {
  tool: string;
  /** Why it was not measured ('not installed', 'cannot read mp3'); null when it was. */
  missing: string | null;
  /** Whole-process wall time (for ffmpeg over chapters: the sum of its 4 runs). */
  wall: Sample | null;
  /** Ours only: the stage's own `seconds` from `run --json`, without CLI start-up. */
  stage: Sample | null;
  /** Audio seconds / median seconds: of the stage for ours, of the wall time for the peers. */
  realtime: number | null;
  /** Audio seconds / median wall seconds of the whole command. */
  realtimeWall: number | null;
}

export interface ResampleMemory {
  /** Nominal length of the long file: `copies` times the input. */
  audioSeconds: number;
  copies: number;
  /** What the stage decoded (manifest `source_seconds`), checked against audioSeconds. */
  decodedSeconds: number;
  /** True when the copies had to lose their ID3v2 tag and Xing frame to decode in full. */
  headersStripped: boolean;
  /** Peak RSS of the whole CLI process in MB (1e6 bytes); null where it cannot be measured. */
  peakRssMB: number | null;
  method: string | null;
  stageSeconds: number;
  wallSeconds: number;
  realtime: number;
}

export interface ResampleResult {
  /** Why the whole section was skipped; null when it ran. */
  skipped: string | null;
  /** Timed runs per measurement: --repeat, capped at MAX_REPEAT. */
  repeat: number;
  audioSeconds: number;
  chapters: number;
  /** Length of the file for the peak-RSS run: 2 h (20 min with --small). */
  longSeconds: number;
  input: { path: string; encoder: 'ffmpeg' | 'lame' } | null;
  sampleRate: number;
  /** The stage's `quality`, as its manifest reports it. */
  quality: string | null;
  cores: number;
  /** Worker threads the stage starts: GPT2O_WORKERS, else one per core. */
  workers: number;
  rows: {
    oursOne: ResampleRow;
    oursChapters: ResampleRow;
    ffmpegOne: ResampleRow;
    ffmpegChapters: ResampleRow;
    soxOne: ResampleRow;
  };
  /** Our realtime factor / ffmpeg's (stage seconds vs ffmpeg's wall time). */
  ratios: { oursVsFfmpegOne: number | null; oursVsFfmpegChapters: number | null };
  memory: ResampleMemory | null;
}

/** Each run takes seconds, so this section times at most this many runs per measurement. */
export const MAX_REPEAT = 5;
/** The bound on our realtime factor / ffmpeg's, over the chapters. */
export const FFMPEG_TARGET = 1.0;
/** The bound on peak RSS over the long file, in MB. */
export const RSS_TARGET_MB = 300;
const SAMPLE_RATE = 24000;

const PIPELINE = `stages:
  fetch:
    cmd: mkdir -p audio && cp data/* audio/
    deps: [data]
    outs: [audio]
  resample:
    uses: resample
    needs: {audio: fetch}
    with:
      sample_rate: ${SAMPLE_RATE}
`;

interface RunJson {
  stages: { name: string; status: string; seconds: number }[];
}

interface Manifest {
  quality: string;
  files: { source_seconds: number }[];
}

/** Makes (or reuses) the MP3s, then times ours and the peers, interleaved, and measures peak RSS. */
export async function benchResample(
  options: { repeat: number; small: boolean },
  root: string,
  log: (line: string) => void,
): Promise<ResampleResult> {
  const seconds = options.small ? 120 : 600;
  const repeat = Math.min(options.repeat, MAX_REPEAT);
  const cores = availableParallelism();
  const copies = options.small ? 10 : 12;
  const result: ResampleResult = {
    skipped: null,
    repeat,
    audioSeconds: seconds,
    chapters: CHAPTERS,
    longSeconds: seconds * copies,
    input: null,
    sampleRate: SAMPLE_RATE,
    quality: null,
    cores,
    workers: Number(process.env.GPT2O_WORKERS) || cores,
    rows: {
      oursOne: row('gpt2o-pipe resample, 1 file'),
      oursChapters: row(`gpt2o-pipe resample, ${CHAPTERS} chapters`),
      ffmpegOne: row('ffmpeg, 1 file'),
      ffmpegChapters: row(`ffmpeg, ${CHAPTERS} chapters in sequence`),
      soxOne: row('sox rate -v, 1 file'),
    },
    ratios: { oursVsFfmpegOne: null, oursVsFfmpegChapters: null },
    memory: null,
  };
  const input = ensureMp3Input(seconds, log);
  if (!input) {
    result.skipped = 'neither ffmpeg nor lame is installed to make the MP3';
    return result;
  }
  result.input = { path: input.path, encoder: input.encoder };
  const dir = join(root, 'resample');

  log(`resample ${seconds} s: cold runs of gpt2o-pipe (1 file, ${CHAPTERS} chapters)`);
  const oneDir = makeProject(join(dir, 'one'), [input.path]);
  const chaptersDir = makeProject(join(dir, 'chapters'), input.chapters);
  for (const project of [oneDir, chaptersDir]) {
    runCommand(pipeCommand('run', project, ['--json']));
    const manifest = readManifest(project);
    assertDecoded(project, manifest, seconds);
    result.quality = manifest.quality;
  }

  const peers = join(dir, 'peers');
  mkdirSync(peers, { recursive: true });
  const hasFfmpeg = isInstalled('ffmpeg');
  const soxMissing = !isInstalled('sox') ? 'not installed' : soxReadsMp3() ? null : 'cannot read mp3';
  const ffmpeg = (file: string, i: number): Command => ({
    label: 'ffmpeg',
    file: 'ffmpeg',
    args: ['-v', 'error', '-y', '-i', file, '-ar', String(SAMPLE_RATE), '-ac', '1', `out-${i}.wav`],
    cwd: peers,
  });
  const sox: Command = {
    label: 'sox',
    file: 'sox',
    args: [input.path, '-c', '1', 'sox.wav', 'rate', '-v', `${SAMPLE_RATE / 1000}k`],
    cwd: peers,
  };
  if (hasFfmpeg) runCommand(ffmpeg(input.path, 0)); // warm-up
  if (soxMissing === null) runCommand(sox); // warm-up

  log(`resample ${seconds} s: timing ours, ffmpeg and sox (${repeat}x each, interleaved)`);
  const ms = {
    oneWall: [] as number[],
    oneStage: [] as number[],
    chWall: [] as number[],
    chStage: [] as number[],
    ffOne: [] as number[],
    ffCh: [] as number[],
    sox: [] as number[],
  };
  for (let i = 0; i < repeat; i++) {
    const one = timeOurs(oneDir);
    ms.oneWall.push(one.wallMs);
    ms.oneStage.push(one.stageMs);
    const chapters = timeOurs(chaptersDir);
    ms.chWall.push(chapters.wallMs);
    ms.chStage.push(chapters.stageMs);
    if (hasFfmpeg) {
      ms.ffOne.push(timeCommandOnce(ffmpeg(input.path, 0)));
      ms.ffCh.push(input.chapters.reduce((sum, file, j) => sum + timeCommandOnce(ffmpeg(file, j + 1)), 0));
    }
    if (soxMissing === null) ms.sox.push(timeCommandOnce(sox));
  }

  const rows = result.rows;
  Object.assign(rows.oursOne, measured(seconds, ms.oneWall, ms.oneStage));
  Object.assign(rows.oursChapters, measured(seconds, ms.chWall, ms.chStage));
  if (hasFfmpeg) {
    Object.assign(rows.ffmpegOne, measured(seconds, ms.ffOne));
    Object.assign(rows.ffmpegChapters, measured(seconds, ms.ffCh));
  } else {
    rows.ffmpegOne.missing = rows.ffmpegChapters.missing = 'not installed';
  }
  if (soxMissing === null) Object.assign(rows.soxOne, measured(seconds, ms.sox));
  else rows.soxOne.missing = soxMissing;
  result.ratios = {
    oursVsFfmpegOne: ratio(rows.oursOne.realtime, rows.ffmpegOne.realtime),
    oursVsFfmpegChapters: ratio(rows.oursChapters.realtime, rows.ffmpegChapters.realtime),
  };

  result.memory = await benchMemory(input, copies, join(dir, 'long'), log);
  return result;
}

/** The graded targets: ours / ffmpeg over the chapters, and peak RSS over the long file. */
export function resampleChecks(result: ResampleResult): Check[] {
  const skip = result.skipped ?? 'not measured';
  return [
    grade(
      {
        id: 'resample.chapters_vs_ffmpeg',
        label: `resample ${CHAPTERS} chapters: ours / ffmpeg realtime`,
        op: '>=',
        target: FFMPEG_TARGET,
        unit: 'x',
      },
      result.ratios.oursVsFfmpegChapters,
      result.skipped ?? (result.rows.ffmpegChapters.missing ? 'ffmpeg not installed' : skip),
    ),
    grade(
      {
        id: 'resample.peak_rss_mb',
        label: `resample peak RSS, ${result.longSeconds} s MP3`,
        op: '<',
        target: RSS_TARGET_MB,
        unit: 'MB',
      },
      result.memory?.peakRssMB ?? null,
      result.skipped ?? (result.memory ? 'no /usr/bin/time or /proc to measure it' : skip),
    ),
  ];
}

/**
 * One cold run over `copies` back-to-back copies of the input, under /usr/bin/time (or VmHWM
 * polling). If the stage decodes only part of it (a decoder trusting the first copy's Xing frame
 * count), the copies lose their headers and it runs again; then the project is removed at once.
 */
async function benchMemory(
  input: Mp3Input,
  copies: number,
  dir: string,
  log: (line: string) => void,
): Promise<ResampleMemory> {
  const audioSeconds = copies * input.seconds;
  try {
    for (const headersStripped of [false, true]) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(join(dir, 'data'), { recursive: true });
      writeFileSync(join(dir, 'pipeline.yaml'), PIPELINE);
      concatMp3(input.path, copies, join(dir, 'data', 'book_01.mp3'), headersStripped);
      log(
        `resample peak RSS: one run over ${audioSeconds} s (${copies} copies${headersStripped ? ', headers stripped' : ''})`,
      );
      const run = await runWithPeakRss(pipeCommand('run', dir, ['--json']));
      const stageSeconds = stageOf(run.stdout, dir).seconds;
      const decodedSeconds = sumSeconds(readManifest(dir));
      if (decodedSeconds < audioSeconds - 2) {
        log(`resample peak RSS: the stage decoded ${decodedSeconds} s of ${audioSeconds} s`);
        if (!headersStripped) continue;
        throw new Error(`resample in ${dir}: decoded ${decodedSeconds} s of the ${audioSeconds} s file`);
      }
      return {
        audioSeconds,
        copies,
        decodedSeconds,
        headersStripped,
        peakRssMB: run.peakKiB === null ? null : (run.peakKiB * 1024) / 1e6,
        method: run.method,
        stageSeconds,
        wallSeconds: run.wallMs / 1000,
        realtime: audioSeconds / stageSeconds,
      };
    }
    throw new Error('internal: unreachable');
  } finally {
    rmSync(dir, { recursive: true, force: true }); // hundreds of MB: do not wait for the end of the bench
  }
}

function row(tool: string): ResampleRow {
  return { tool, missing: null, wall: null, stage: null, realtime: null, realtimeWall: null };
}

function measured(audioSeconds: number, wallMs: number[], stageMs?: number[]): Partial<ResampleRow> {
  const wall = summarize(wallMs);
  const stage = stageMs ? summarize(stageMs) : null;
  const realtimeWall = audioSeconds / (wall.medianMs / 1000);
  return {
    wall,
    stage,
    realtime: stage ? audioSeconds / (stage.medianMs / 1000) : realtimeWall,
    realtimeWall,
  };
}

/** A bench project whose data/ holds the given MP3s as book_01.mp3, book_02.mp3, … */
function makeProject(dir: string, files: string[]): string {
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'pipeline.yaml'), PIPELINE);
  files.forEach((file, i) => {
    const target = join(dir, 'data', `book_${String(i + 1).padStart(2, '0')}.mp3`);
    try {
      linkSync(file, target); // no extra copy on disk, already in page cache
    } catch {
      copyFileSync(file, target); // another filesystem
    }
  });
  return dir;
}

/** One forced run of the resample stage: its own seconds and the whole command's wall time. */
function timeOurs(dir: string): { wallMs: number; stageMs: number } {
  const start = performance.now();
  const { stdout } = runCommand(pipeCommand('run', dir, ['--force', 'resample', '--json']));
  const wallMs = performance.now() - start;
  return { wallMs, stageMs: stageOf(stdout, dir).seconds * 1000 };
}

function stageOf(stdout: string, dir: string): RunJson['stages'][number] {
  const stage = (JSON.parse(stdout) as RunJson).stages.find((s) => s.name === 'resample');
  if (stage?.status !== 'ran') {
    throw new Error(`gpt2o-pipe run in ${dir}: expected resample to run, got ${JSON.stringify(stage)}`);
  }
  return stage;
}

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'runs', 'pipeline', 'resample', 'manifest.json'), 'utf8'));
}

function sumSeconds(manifest: Manifest): number {
  return manifest.files.reduce((sum, f) => sum + f.source_seconds, 0);
}

/** The stage must have decoded the whole input (else the realtime factor would flatter it). */
function assertDecoded(dir: string, manifest: Manifest, seconds: number): void {
  const decoded = sumSeconds(manifest);
  if (Math.abs(decoded - seconds) > 1) {
    throw new Error(`resample in ${basename(dir)}: decoded ${decoded} s of ${seconds} s`);
  }
}

/** sox lists mp3 among its formats only with its MP3 plugin (libsox-fmt-mp3 on Debian). */
function soxReadsMp3(): boolean {
  const help = runCommand({ label: 'sox -h', file: 'sox', args: ['-h'], cwd: process.cwd() }).stdout;
  const formats = /AUDIO FILE FORMATS:(.*)/.exec(help)?.[1] ?? '';
  return formats.split(/\s+/).includes('mp3');
}
