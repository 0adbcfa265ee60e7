// `resample`: every chapter of the downloaded audio → mono WAV at `sample_rate` (24 kHz for SNAC),
// decoded, mixed and resampled in a streaming way on worker threads, plus a manifest with
// durations and the train/val split (val: files whose name contains `val_pattern`, as the
// original held out chapter 01; else the first file).
import * as v from 'valibot';
import { defineStage, StageError } from '../src/stage-api/index.ts';

export default defineStage({
  name: 'resample',
  version: 2,
  description:
    'decode MP3/FLAC/WAV, mix to mono, resample with a windowed-sinc filter, write WAV per chapter',
  params: v.strictObject({
    sample_rate: v.optional(v.pipe(v.number(), v.integer(), v.minValue(4000), v.maxValue(384000)), 24000),
    // best: 110 dB SNR against libsamplerate's SINC_BEST; high: 93 dB; fast: for quick looks.
    quality: v.optional(v.picklist(['best', 'high', 'fast']), 'best'),
    format: v.optional(v.picklist(['pcm16', 'float32']), 'pcm16'),
    val_pattern: v.optional(v.string(), '_01_'),
    on_bad_file: v.optional(v.picklist(['fail', 'skip']), 'fail'),
  }),
  inputs: ['audio'],
  async run(ctx) {
    const { listAudioFiles, planOutputs } = await import('./audio/inputs.ts');
    const { convertAll, ConvertFailure } = await import('./audio/worker-pool.ts');
    const { mkdir, rm, writeFile } = await import('node:fs/promises');
    const { availableParallelism } = await import('node:os');
    const { join } = await import('node:path');
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

    // One worker per core unless GPT2O_WORKERS says otherwise (it does not change outputs, so it is
    // not a param: params enter the cache key).
    const workers = Number(process.env.GPT2O_WORKERS) || availableParallelism();
    const done = new Array<number>(plan.length).fill(0);
    let finished = 0;
    const report = () =>
      ctx.progress({
        done: Math.round(done.reduce((a, b) => a + b, 0)),
        unit: 's of audio',
        message: `${finished}/${plan.length} files`,
      });
    const jobs = plan.map((item) => ({
      input: item.sourcePath,
      output: join(ctx.outDir, item.output),
      sampleRate: p.sample_rate,
      quality: p.quality,
      format: p.format,
    }));
    ctx.log(
      `resampling ${plan.length} files to ${p.sample_rate} Hz mono ${p.format} (quality ${p.quality}) on ${workers} workers`,
    );
    const results = await convertAll(jobs, {
      workers,
      signal: ctx.signal,
      onProgress: (index, seconds) => {
        done[index] = seconds;
        report();
      },
    });

    const files: Record<string, unknown>[] = [];
    const skipped: { source: string; error: string }[] = [];
    for (const [i, result] of results.entries()) {
      const item = plan[i]!;
      if (result.status === 'rejected') {
        const failure = result.reason as InstanceType<typeof ConvertFailure>;
        if (!failure.decode) throw failure;
        if (p.on_bad_file === 'fail') {
          throw new StageError(failure.message, {
            hint: 'replace the file, or set data.on_bad_file: skip to leave it out (it is then listed in the manifest)',
          });
        }
        ctx.log(`warning: skipped ${item.source}: ${failure.message}`);
        skipped.push({ source: item.source, error: failure.message });
        await rm(join(ctx.outDir, item.output), { force: true });
        continue;
      }
      const r = result.value;
      finished++;
      done[i] = r.sourceSeconds;
      files.push({
        file: item.output,
        source: item.source,
        split: 'train',
        seconds: round(r.seconds),
        source_seconds: round(r.sourceSeconds),
        samples: r.samples,
        source_rate: r.sourceRate,
        source_channels: r.sourceChannels,
      });
    }
    report();
    if (files.length === 0)
      throw new StageError('every input file failed to decode', { hint: 'see the warnings in the log' });
    const val = files.filter((f) => p.val_pattern !== '' && String(f.source).includes(p.val_pattern));
    for (const f of val.length > 0 ? val : [files[0]!]) f.split = 'val';
    const seconds = (split: string) =>
      round(files.filter((f) => f.split === split).reduce((s, f) => s + (f.seconds as number), 0));
    const manifest = {
      sample_rate: p.sample_rate,
      channels: 1,
      format: p.format,
      quality: p.quality,
      train_seconds: seconds('train'),
      val_seconds: seconds('val'),
      files,
      skipped,
    };
    await writeFile(join(ctx.outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    ctx.metric('files', files.length);
    ctx.metric('skipped', skipped.length);
    ctx.metric('train_seconds', manifest.train_seconds);
    ctx.metric('val_seconds', manifest.val_seconds);
    ctx.log(`wrote ${files.length} files: ${manifest.train_seconds}s train, ${manifest.val_seconds}s val`);
  },
});

function round(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e6;
}
