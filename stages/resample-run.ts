// The body of the `resample` stage, loaded only when it runs: list the input's audio, convert every
// file on worker threads, then write the audio manifest (contracts/audio-manifest.ts).
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type StageContext, StageError } from '../src/stage-api/index.ts';
import type { ConvertResult } from './audio/convert.ts';
import { listAudioFiles, type PlannedFile, planOutputs } from './audio/inputs.ts';
import { type ConvertFailure, convertAll } from './audio/worker-pool.ts';
import { type AudioFile, type AudioManifest, writeAudioManifest } from './contracts/audio-manifest.ts';
import type { ResampleParams } from './resample.ts';

/** Runs the stage: convert, collect, split, write manifest.json. */
export async function runResample(ctx: StageContext<ResampleParams>): Promise<void> {
  const p = ctx.params;
  const sources = await listAudioFiles(ctx.input('audio'));
  if (sources.length === 0) {
    throw new StageError('the input has no MP3, FLAC or WAV files', {
      hint: 'check the download stage and its include: globs',
    });
  }
  const plan = planOutputs(sources);
  await mkdir(join(ctx.outDir, 'wav'), { recursive: true });
  for (const item of plan) await mkdir(join(ctx.outDir, item.output, '..'), { recursive: true });
  const results = await convertPlan(ctx, plan);

  const files: AudioFile[] = [];
  const skipped: AudioManifest['skipped'] = [];
  for (const [i, result] of results.entries()) {
    const item = plan[i]!;
    if (result.status === 'fulfilled') {
      files.push(audioFile(item, result.value));
      continue;
    }
    const failure = result.reason as ConvertFailure;
    if (!failure.decode) throw failure;
    if (p.on_bad_file === 'fail') {
      throw new StageError(failure.message, {
        hint: 'replace the file, or set data.on_bad_file: skip to leave it out (it is then listed in the manifest)',
      });
    }
    ctx.log(`warning: skipped ${item.source}: ${failure.message}`);
    skipped.push({ source: item.source, error: failure.message });
    await rm(join(ctx.outDir, item.output), { force: true });
  }
  if (files.length === 0)
    throw new StageError('every input file failed to decode', { hint: 'see the warnings in the log' });
  const manifest = audioManifest(p, files, skipped);
  await writeAudioManifest(ctx.outDir, manifest);
  ctx.metric('files', files.length);
  ctx.metric('skipped', skipped.length);
  ctx.metric('train_seconds', manifest.train_seconds);
  ctx.metric('val_seconds', manifest.val_seconds);
  ctx.log(`wrote ${files.length} files: ${manifest.train_seconds}s train, ${manifest.val_seconds}s val`);
}

/** Converts every planned file on ctx.workers threads, reporting seconds of audio done. */
async function convertPlan(
  ctx: StageContext<ResampleParams>,
  plan: readonly PlannedFile[],
): Promise<PromiseSettledResult<ConvertResult>[]> {
  const p = ctx.params;
  const done = new Array<number>(plan.length).fill(0);
  let finished = 0;
  const report = () =>
    ctx.progress({
      done: Math.round(done.reduce((a, b) => a + b, 0)),
      unit: 's of audio',
      message: `${finished}/${plan.length} files`,
    });
  ctx.log(
    `resampling ${plan.length} files to ${p.sample_rate} Hz mono ${p.format} (quality ${p.quality}) on ${ctx.workers} workers`,
  );
  const results = await convertAll(
    plan.map((item) => ({
      input: item.sourcePath,
      output: join(ctx.outDir, item.output),
      sampleRate: p.sample_rate,
      quality: p.quality,
      format: p.format,
    })),
    {
      workers: ctx.workers,
      signal: ctx.signal,
      onProgress: (index, seconds) => {
        done[index] = seconds;
        report();
      },
    },
  );
  for (const [i, result] of results.entries()) {
    if (result.status !== 'fulfilled') continue;
    finished++;
    done[i] = result.value.sourceSeconds;
  }
  report();
  return results;
}

function audioFile(item: PlannedFile, r: ConvertResult): AudioFile {
  return {
    file: item.output,
    source: item.source,
    split: 'train',
    seconds: round(r.seconds),
    source_seconds: round(r.sourceSeconds),
    samples: r.samples,
    source_rate: r.sourceRate,
    source_channels: r.sourceChannels,
  };
}

/**
 * The manifest of the converted files: val is every file whose source contains `val_pattern` (as
 * the original held out chapter 01), else the first file; the rest is train.
 */
export function audioManifest(
  p: ResampleParams,
  files: AudioFile[],
  skipped: AudioManifest['skipped'],
): AudioManifest {
  const val = files.filter((f) => p.val_pattern !== '' && f.source.includes(p.val_pattern));
  for (const f of val.length > 0 ? val : [files[0]!]) f.split = 'val';
  const seconds = (split: AudioFile['split']) =>
    round(files.filter((f) => f.split === split).reduce((s, f) => s + f.seconds, 0));
  return {
    sample_rate: p.sample_rate,
    channels: 1,
    format: p.format,
    quality: p.quality,
    train_seconds: seconds('train'),
    val_seconds: seconds('val'),
    files,
    skipped,
  };
}

function round(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e6;
}
