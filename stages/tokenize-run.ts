// The body of the `tokenize` stage, loaded only when it runs: check the audio manifest against the
// codec's facts, open the encoder, encode chapter by chapter, write the codes manifest.
import { extname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { type StageContext, StageError } from '../src/stage-api/index.ts';
import { encodeChapter } from './codec/encode-chapter.ts';
import { batchOf, sessionMetadata, usableBatch } from './codec/run-model.ts';
import { type AudioListing, readAudioManifest } from './contracts/audio-manifest.ts';
import { type CodecFactsView, readCodecFacts } from './contracts/codec-facts.ts';
import { type CodesChapter, writeCodesManifest } from './contracts/codes-manifest.ts';
import { checkDevice, deviceError, onnxProviders } from './lib/device.ts';
import type { TokenizeParams } from './tokenize.ts';
import { writeChapterCodes } from './tokens/codes-files.ts';

/** Runs the stage; speed is audio seconds per second of the whole stage (loading the encoder included). */
export async function runTokenize(ctx: StageContext<TokenizeParams>): Promise<void> {
  const stageStarted = performance.now();
  const facts = readCodecFacts(ctx.input('codec'));
  const audio = readAudioManifest(ctx.input('audio'));
  if (audio.sample_rate !== facts.sample_rate) {
    throw new StageError(
      `the audio is ${audio.sample_rate} Hz but the codec expects ${facts.sample_rate} Hz`,
      {
        hint: `set audio.sample_rate to ${facts.sample_rate} (or codec.sample_rate if the codec says otherwise)`,
      },
    );
  }
  const levelOutputs = levelOutputsOf(facts);
  const encoder = await openEncoder(ctx);
  const started = performance.now();
  let encoded: Encoded;
  try {
    encoded = await encodeAll(ctx, encoder, facts, levelOutputs, audio, stageStarted);
  } finally {
    await encoder.session.release();
  }
  const { chapters, seconds, inferenceMs } = encoded;
  await writeCodesManifest(ctx.outDir, {
    codebook_size: facts.codebook_size,
    sample_rate: facts.sample_rate,
    hop_length: facts.hop_length,
    chapters,
  });
  const wallMs = performance.now() - started;
  const stageSeconds = (performance.now() - stageStarted) / 1000;
  ctx.metric(
    'frames',
    chapters.reduce((s, c) => s + c.frames, 0),
  );
  ctx.metric('audio_seconds', seconds);
  ctx.metric('inference_seconds', inferenceMs / 1000);
  ctx.metric('inference_share', wallMs > 0 ? inferenceMs / wallMs : 0);
  ctx.metric('stage_seconds', stageSeconds);
  ctx.metric('realtime_factor', realtime(seconds, stageSeconds * 1000));
  ctx.log(
    `${chapters.length} chapters, ${seconds.toFixed(1)} s of audio in ${stageSeconds.toFixed(1)} s ` +
      `(${realtime(seconds, stageSeconds * 1000).toFixed(1)}× realtime); inference ${((100 * inferenceMs) / wallMs).toFixed(1)}% of the stage`,
  );
}

/** The encoder's output names, coarse to fine; the codes contract has three levels at 1:2:4 (SNAC's). */
function levelOutputsOf(facts: CodecFactsView): string[] {
  const levels = facts.strides
    .map((stride, i) => ({ stride, output: facts.encoder.outputs[i]! }))
    .sort((a, b) => b.stride - a.stride);
  const ratios = levels.map((l) => levels[0]!.stride / l.stride);
  if (ratios.join(':') !== '1:2:4') {
    throw new StageError(
      `the codec has ${levels.length} levels at rates ${ratios.join(':')}; the token layouts need three at 1:2:4`,
    );
  }
  return levels.map((l) => l.output);
}

interface Encoder {
  session: ort.InferenceSession;
  /** The model's own batch: `dynamic`, or the fixed batch it was exported for. */
  modelBatch: ReturnType<typeof batchOf>;
  /** Windows per call. */
  batchSize: number;
}

async function openEncoder(ctx: StageContext<TokenizeParams>): Promise<Encoder> {
  const p = ctx.params;
  checkDevice(p.device, 'codec.device');
  let session: ort.InferenceSession;
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
  return { session, modelBatch, batchSize };
}

interface Encoded {
  chapters: CodesChapter[];
  /** Seconds of audio encoded. */
  seconds: number;
  inferenceMs: number;
}

/** Encodes every file of the audio manifest into codes/<the WAV's path under wav/, without extension>. */
async function encodeAll(
  ctx: StageContext<TokenizeParams>,
  encoder: Encoder,
  facts: CodecFactsView,
  levelOutputs: string[],
  audio: AudioListing,
  stageStarted: number,
): Promise<Encoded> {
  const windowSamples =
    Math.max(1, Math.round((ctx.params.chunk_seconds * facts.sample_rate) / facts.pad_multiple)) *
    facts.pad_multiple;
  const total = audio.files.reduce((s, f) => s + f.seconds, 0);
  const chapters: CodesChapter[] = [];
  let before = 0;
  let inferenceMs = 0;
  for (const file of audio.files) {
    // Subfolders are kept, so names stay unique.
    const dir = `codes/${file.file.replace(/^wav\//, '').slice(0, -extname(file.file).length || undefined)}`;
    const encoded = await encodeChapter(join(ctx.input('audio'), file.file), {
      ort,
      session: encoder.session,
      facts,
      levelOutputs,
      windowSamples,
      batchSize: encoder.batchSize,
      fixedBatch: encoder.modelBatch !== 'dynamic',
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
  return { chapters, seconds: before, inferenceMs };
}

/** Seconds of audio per second of wall time (0 before any time has passed). */
function realtime(audioSeconds: number, wallMs: number): number {
  return wallMs > 0 ? audioSeconds / (wallMs / 1000) : 0;
}
