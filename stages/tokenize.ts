// `tokenize`: every chapter of resampled audio → codec codes, with the codec fetched by `codec`.
// Chapters are cut into `chunk_seconds` windows (rounded to whole coarse frames), batched
// `batch_size` at a time through an onnxruntime-node session, and written in the codes contract
// that `shard` reads (codes/<chapter>/level{0,1,2}.npy + manifest.json).
import * as v from 'valibot';
import { defineStage, StageError } from '../src/stage-api/index.ts';
import type { CodecFacts } from './codec/probe.ts';
import { DEVICES, renamedParam } from './lib/device.ts';

export default defineStage({
  name: 'tokenize',
  version: 1,
  description: 'encode 24 kHz mono chapters into codec codes with onnxruntime-node',
  params: v.pipe(
    v.strictObject({
      // 30: pipeline.yaml's default, chosen on SNAC 24 kHz (README: Running with the real SNAC).
      chunk_seconds: v.optional(v.pipe(v.number(), v.gtValue(0)), 30),
      batch_size: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 2),
      // 0: onnxruntime's default (all cores).
      threads: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
      // Where the encoder runs: cpu, or cuda (onnxruntime-node's CUDA provider; README: real SNAC).
      // The same word as train.device.
      device: v.optional(v.picklist(DEVICES), 'cpu'),
      // The old name of device: refused with the fix, below.
      provider: v.optional(v.unknown()),
    }),
    renamedParam('provider', 'device', 'codec.device'),
  ),
  inputs: ['audio', 'codec'],
  async run(ctx) {
    // Speed is audio seconds per second of the whole stage (loading the encoder included).
    const stageStarted = performance.now();
    const { writeFile } = await import('node:fs/promises');
    const { extname, join } = await import('node:path');
    const ort = await import('onnxruntime-node');
    const { encodeChapter } = await import('./codec/encode-chapter.ts');
    const { batchOf, sessionMetadata, usableBatch } = await import('./codec/run-model.ts');
    const { writeChapterCodes } = await import('./tokens/codes-files.ts');
    const { checkDevice, deviceError, onnxProviders } = await import('./lib/device.ts');
    const p = ctx.params;
    const { readInputJson, unsafePath } = await import('./lib/files.ts');
    const facts = (await readInputJson(ctx.input('codec'), 'codec.json', 'codec')) as CodecFacts;
    const audio = (await readInputJson(ctx.input('audio'), 'manifest.json', 'resample')) as {
      sample_rate: number;
      files: { file: string; split: 'train' | 'val'; seconds: number }[];
    };
    if (!Array.isArray(audio?.files) || typeof audio.sample_rate !== 'number') {
      throw new StageError('the audio manifest.json lacks files or sample_rate', {
        hint: 'tokenize reads the output of resample',
      });
    }
    for (const file of audio.files) {
      const problem =
        typeof file?.file === 'string' ? unsafePath(file.file, ctx.input('audio')) : 'not a string';
      if (problem) {
        throw new StageError(
          `the audio manifest.json lists ${JSON.stringify(file?.file)}, which is not a path inside it (${problem})`,
        );
      }
    }
    if (audio.sample_rate !== facts.sample_rate) {
      throw new StageError(
        `the audio is ${audio.sample_rate} Hz but the codec expects ${facts.sample_rate} Hz`,
        {
          hint: `set audio.sample_rate to ${facts.sample_rate} (or codec.sample_rate if the codec says otherwise)`,
        },
      );
    }
    // The codes contract has three levels at 1:2:4 (SNAC's); order the outputs coarse to fine.
    const levels = facts.strides
      .map((stride, i) => ({ stride, output: facts.encoder.outputs[i]! }))
      .sort((a, b) => b.stride - a.stride);
    const ratios = levels.map((l) => levels[0]!.stride / l.stride);
    if (ratios.join(':') !== '1:2:4') {
      throw new StageError(
        `the codec has ${levels.length} levels at rates ${ratios.join(':')}; the token layouts need three at 1:2:4`,
      );
    }
    const levelOutputs = levels.map((l) => l.output);
    checkDevice(p.device, 'codec.device');
    let session: import('onnxruntime-node').InferenceSession;
    try {
      session = await ort.InferenceSession.create(join(ctx.input('codec'), 'encoder.onnx'), {
        executionProviders: onnxProviders(p.device),
        logSeverityLevel: 3,
        ...(p.threads > 0 ? { intraOpNumThreads: p.threads } : {}),
      });
    } catch (cause) {
      throw deviceError(p.device, 'codec.device', 'encoder.onnx', cause);
    }
    // A model exported for a fixed batch takes exactly that many windows per call (read from the
    // model itself: codec.json of older runs does not record it).
    const modelBatch = batchOf(sessionMetadata(session, 'inputMetadata')[0]);
    const batchSize = usableBatch(modelBatch, p.batch_size);
    if (batchSize !== p.batch_size)
      ctx.log(
        `encoder.onnx was exported for a fixed batch of ${modelBatch}: ${batchSize} window(s) per call, not codec.batch_size ${p.batch_size}`,
      );
    const windowSamples =
      Math.max(1, Math.round((p.chunk_seconds * facts.sample_rate) / facts.pad_multiple)) *
      facts.pad_multiple;
    const total = audio.files.reduce((s, f) => s + f.seconds, 0);
    let before = 0;
    let inferenceMs = 0;
    const started = performance.now();
    const chapters = [];
    try {
      for (const file of audio.files) {
        // codes/<the WAV's path under wav/, without extension>: subfolders are kept, so names stay unique.
        const dir = `codes/${file.file.replace(/^wav\//, '').slice(0, -extname(file.file).length || undefined)}`;
        const encoded = await encodeChapter(join(ctx.input('audio'), file.file), {
          ort,
          session,
          facts,
          levelOutputs,
          windowSamples,
          batchSize,
          fixedBatch: modelBatch !== 'dynamic',
          signal: ctx.signal,
          onProgress: (seconds: number) =>
            ctx.progress({
              done: Math.round(before + seconds),
              total: Math.round(total),
              unit: 's of audio',
              message: `${realtime(before + seconds, performance.now() - stageStarted).toFixed(1)}× realtime`,
            }),
        });
        writeChapterCodes(ctx.outDir, dir, encoded.codes);
        inferenceMs += encoded.inferenceMs;
        before += encoded.samples / facts.sample_rate;
        chapters.push({
          dir,
          source: file.file,
          split: file.split,
          frames: encoded.frames,
          seconds: encoded.samples / facts.sample_rate,
        });
      }
    } finally {
      await session.release();
    }
    const manifest = {
      codebook_size: facts.codebook_size,
      sample_rate: facts.sample_rate,
      hop_length: facts.hop_length,
      chapters,
    };
    await writeFile(join(ctx.outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const wallMs = performance.now() - started;
    const stageSeconds = (performance.now() - stageStarted) / 1000;
    ctx.metric(
      'frames',
      chapters.reduce((s, c) => s + c.frames, 0),
    );
    ctx.metric('audio_seconds', before);
    ctx.metric('inference_seconds', inferenceMs / 1000);
    ctx.metric('inference_share', wallMs > 0 ? inferenceMs / wallMs : 0);
    ctx.metric('stage_seconds', stageSeconds);
    ctx.metric('realtime_factor', realtime(before, stageSeconds * 1000));
    ctx.log(
      `${chapters.length} chapters, ${before.toFixed(1)} s of audio in ${stageSeconds.toFixed(1)} s ` +
        `(${realtime(before, stageSeconds * 1000).toFixed(1)}× realtime); inference ${((100 * inferenceMs) / wallMs).toFixed(1)}% of the stage`,
    );
  },
});

/** Seconds of audio per second of wall time (0 before any time has passed). */
function realtime(audioSeconds: number, wallMs: number): number {
  return wallMs > 0 ? audioSeconds / (wallMs / 1000) : 0;
}
