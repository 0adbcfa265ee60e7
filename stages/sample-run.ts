// The body of the `sample` stage, loaded only when it runs: the prompt from the val split, the
// GPT's continuations of it, each decoded through the codec to a WAV, the reference span decoded
// the same way, and samples.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type StageContext, StageError } from '../src/stage-api/index.ts';
import { decodeCodes } from './codec/decode-codes.ts';
import { seedRandomOps } from './codec/random-ops.ts';
import { readShardsMeta } from './contracts/shards-meta.ts';
import { generate } from './model/generate.ts';
import { openModel } from './model/inference.ts';
import { readValTokens } from './model/val-stream.ts';
import type { SampleParams } from './sample.ts';
import { makeLayout } from './tokens/layout-registry.ts';

type Layout = ReturnType<typeof makeLayout>;

/** The val span the samples continue: its first `prompt_frames` frames are the prompt. */
interface Prompt {
  layout: Layout;
  /** The real span, prompt plus max_new_frames frames (as much of it as the val split holds). */
  real: Uint16Array;
  prompt: Uint16Array;
  maxNewTokens: number;
  /** The shards' vocabulary: the model's must hold it. */
  vocabSize: number;
}

export async function runSample(ctx: StageContext<SampleParams>): Promise<void> {
  const p = ctx.params;
  const span = readPrompt(ctx);
  const generated = await generateSequences(ctx, span);
  // Tokens → codes → audio.
  const facts = JSON.parse(readFileSync(join(ctx.input('codec'), 'codec.json'), 'utf8'));
  // The decoder's random ops (SNAC's noise blocks) seeded from sample.seed: reruns give the same bytes.
  const decoder = seedRandomOps(readFileSync(join(ctx.input('codec'), 'decoder.onnx')), p.seed);
  if (decoder.seeded.length > 0)
    ctx.log(`decoder: seeded ${decoder.seeded.length} random op(s) from sample.seed ${p.seed}`);
  const decode = (codes: ReturnType<Layout['unflatten']>) =>
    decodeCodes(decoder.model, 'decoder.onnx', facts, codes);
  const written = await writeSamples(ctx, span, generated.sequences, decode, facts);
  // The reference: the real span decoded exactly as the samples are (same decoder, same seed).
  const realCodes = span.layout.unflatten(span.real);
  const referenceAudio = await decode(realCodes);
  await writeWav(join(ctx.outDir, 'reference.wav'), referenceAudio, facts.sample_rate);
  const report = {
    count: p.count,
    constrained: p.constrained,
    kv_cache: p.kv_cache,
    valid_frame_share: written.validShare,
    tokens_per_sec: Math.round(generated.tokensPerSec * 10) / 10,
    backend: generated.backend,
    // The decoder's random ops and the seed each was given (empty: a deterministic decoder).
    decoder_random_ops: decoder.seeded,
    samples: written.samples,
    reference: {
      wav: 'reference.wav',
      frames: realCodes.levels[0].length,
      seconds: referenceAudio.length / facts.sample_rate,
    },
  };
  writeFileSync(join(ctx.outDir, 'samples.json'), `${JSON.stringify(report, null, 2)}\n`);
  ctx.metric('valid_frame_share', written.validShare);
  ctx.metric('sample_tokens_per_sec', report.tokens_per_sec);
  ctx.log(
    `${p.count} samples of ${p.max_new_frames} frames (${report.tokens_per_sec} tok/s` +
      `${p.kv_cache ? ', KV cache' : ''}); valid frames ${(100 * written.validShare).toFixed(1)}%`,
  );
}

/** The prompt: whole frames from the start of the val split (the first val chapter). */
function readPrompt(ctx: StageContext<SampleParams>): Prompt {
  const p = ctx.params;
  const shards = ctx.input('shards');
  const meta = readShardsMeta(shards);
  const layout = makeLayout(meta.layout, meta.codebook_size);
  const perFrame = layout.spec.tokensPerFrame;
  const promptTokens = p.prompt_frames * perFrame;
  const maxNewTokens = p.max_new_frames * perFrame;
  // The span a sample covers, as the val split holds it: its prompt is the start of it.
  const real = readValTokens(shards, promptTokens + maxNewTokens);
  const prompt = real.subarray(0, promptTokens);
  if (prompt.length < promptTokens || prompt[0] !== layout.spec.frameStart)
    throw new StageError(
      `the val split holds ${Math.floor(prompt.length / perFrame)} frames; the prompt needs ${p.prompt_frames}`,
      { hint: 'lower sample.prompt_frames' },
    );
  if (p.device !== undefined && p.backend !== 'onnxruntime' && p.backend !== 'auto')
    throw new StageError('sample.device applies to backends onnxruntime and auto', {
      hint: 'remove device, or set backend to onnxruntime',
    });
  return { layout, real, prompt, maxNewTokens, vocabSize: meta.vocab_size };
}

/** The model's continuations of the prompt, with its speed and the backend that ran it. */
async function generateSequences(ctx: StageContext<SampleParams>, span: Prompt) {
  const p = ctx.params;
  const { layout, prompt, maxNewTokens, vocabSize } = span;
  const perFrame = layout.spec.tokensPerFrame;
  const model = await openModel(ctx.input('model'), p.backend, p.device, ctx.threads);
  if (model.config.vocabSize < vocabSize)
    throw new StageError(
      `the model's vocabulary (${model.config.vocabSize}) is smaller than the shards' (${vocabSize})`,
    );
  const started = performance.now();
  const sequences = await generate(model.decoder(), prompt, {
    count: p.count,
    maxNewTokens,
    temperature: p.temperature,
    topK: p.top_k,
    topP: p.top_p,
    seed: p.seed,
    kvCache: p.kv_cache,
    signal: ctx.signal,
    allowed: p.constrained ? (sequence) => layout.legalNext(sequence) : undefined,
    onToken: (done) => {
      if (done % perFrame === 0)
        ctx.progress({
          done: done / perFrame,
          total: p.max_new_frames,
          unit: 'frames',
          message: `${p.count} samples`,
        });
    },
  });
  const seconds = (performance.now() - started) / 1000;
  await model.dispose();
  return { sequences, tokensPerSec: (p.count * maxNewTokens) / seconds, backend: model.backend };
}

/** samples/sample_NN.wav and .json for each sequence; their summaries and the share of whole frames. */
async function writeSamples(
  ctx: StageContext<SampleParams>,
  span: Prompt,
  sequences: readonly Int32Array[],
  decode: (codes: ReturnType<Layout['unflatten']>) => Promise<Float32Array>,
  facts: { sample_rate: number; frame_samples: number },
) {
  const { layout, prompt } = span;
  mkdirSync(join(ctx.outDir, 'samples'));
  const samples = [];
  let validFrames = 0;
  let droppedFrames = 0;
  for (const [i, sequence] of sequences.entries()) {
    const name = `sample_${String(i).padStart(2, '0')}`;
    const generated = sequence.subarray(prompt.length);
    const codes = layout.unflatten(sequence);
    const newFrames = layout.unflatten(generated);
    validFrames += newFrames.levels[0].length;
    droppedFrames += newFrames.dropped;
    const audio = await decode(codes);
    await writeWav(join(ctx.outDir, 'samples', `${name}.wav`), audio, facts.sample_rate);
    const info = {
      name,
      wav: `samples/${name}.wav`,
      prompt_tokens: prompt.length,
      new_tokens: generated.length,
      frames: codes.levels[0].length,
      dropped_frames: codes.dropped,
      seconds: audio.length / facts.sample_rate,
      prompt_seconds: (ctx.params.prompt_frames * facts.frame_samples) / facts.sample_rate,
      tokens: Array.from(sequence),
    };
    writeFileSync(join(ctx.outDir, 'samples', `${name}.json`), `${JSON.stringify(info)}\n`);
    const { tokens: _tokens, ...summary } = info;
    samples.push(summary);
  }
  return { samples, validShare: validFrames / Math.max(1, validFrames + droppedFrames) };
}

async function writeWav(path: string, samples: Float32Array, sampleRate: number): Promise<void> {
  const { WavWriter } = await import('./audio/wav-writer.ts');
  const writer = new WavWriter(path, sampleRate, 'pcm16');
  writer.write(samples);
  writer.close();
}
