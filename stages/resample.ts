// `resample`: every chapter of the downloaded audio → mono WAV at `sample_rate` (24 kHz for SNAC),
// decoded, mixed and resampled in a streaming way on worker threads, plus a manifest with
// durations and the train/val split (val: files whose name contains `val_pattern`, as the
// original held out chapter 01; else the first file).
import * as v from 'valibot';
import { defineStage } from '../src/stage-api/index.ts';

const params = v.strictObject({
  sample_rate: v.optional(v.pipe(v.number(), v.integer(), v.minValue(4000), v.maxValue(384000)), 24000),
  // best: 110 dB SNR against libsamplerate's SINC_BEST; high: 93 dB; fast: for quick looks.
  quality: v.optional(v.picklist(['best', 'high', 'fast']), 'best'),
  format: v.optional(v.picklist(['pcm16', 'float32']), 'pcm16'),
  val_pattern: v.optional(v.string(), '_01_'),
  on_bad_file: v.optional(v.picklist(['fail', 'skip']), 'fail'),
});

/** The validated `with:` of a resample stage. */
export type ResampleParams = v.InferOutput<typeof params>;

export default defineStage({
  name: 'resample',
  version: 2,
  description:
    'decode MP3/FLAC/WAV, mix to mono, resample with a windowed-sinc filter, write WAV per chapter',
  params,
  inputs: ['audio'],
  async run(ctx) {
    const { runResample } = await import('./resample-run.ts');
    await runResample(ctx);
  },
});
