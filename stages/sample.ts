// `sample`: the trained GPT continues a prompt (the first `prompt_frames` frames of the first val
// chapter) into new token streams; the token layout turns them back into codec codes and the codec
// decoder (onnxruntime-node) into 24 kHz WAV files. Constrained decoding (default) allows only the
// ids legal at each place of a frame, so every sample unflattens into whole frames.
// Beside the samples, `reference.wav`: the real continuation, i.e. the same span of the val split
// (prompt plus max_new_frames frames) decoded through the same codec path, so a listener hears
// what the model should have produced (`compare --html` shows it as the reference row).
import * as v from 'valibot';
import { defineStage, StageError } from '../src/stage-api/index.ts';
import { unsetWhenNull } from './lib/unset.ts';
import { DEVICES, TRAIN_BACKENDS } from './model/backend.ts';

export default defineStage({
  name: 'sample',
  // 2: attention per head from qkv (same math, other rounding). 3: the decoder's random ops
  // seeded. 4: auto runs onnxruntime, and plain temperature sampling draws over ids in id order.
  // 5: writes reference.wav (the val span the samples continue, through the codec).
  version: 5,
  description: 'generate token streams with the GPT and decode them to audio with the codec',
  params: v.strictObject({
    count: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 2),
    prompt_frames: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 12),
    max_new_frames: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 94),
    temperature: v.optional(v.pipe(v.number(), v.minValue(0)), 1.0),
    // 0: off.
    top_k: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
    // 1: off.
    top_p: v.optional(v.pipe(v.number(), v.gtValue(0), v.maxValue(1)), 1.0),
    seed: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 1337),
    constrained: v.optional(v.boolean(), true),
    kv_cache: v.optional(v.boolean(), true),
    // The pipeline passes train.backend; onnxruntime samples on its KV-cache graph.
    backend: v.optional(v.picklist(TRAIN_BACKENDS), 'auto'),
    // onnxruntime only; absent means cpu (no default, so existing keys stay).
    device: unsetWhenNull(v.picklist(DEVICES)),
  }),
  inputs: ['model', 'shards', 'codec'],
  // As evaluate: the weights and the val split (the prompts); of the codec, its decoder.
  reads: {
    model: ['model.safetensors', 'config.json'],
    shards: ['meta.json', 'val_*'],
    codec: ['codec.json', 'decoder.onnx'],
  },
  async run(ctx) {
    const { mkdirSync, readFileSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { openModel } = await import('./model/inference.ts');
    const { readShardsMeta } = await import('./contracts/shards-meta.ts');
    const { readValTokens } = await import('./model/val-stream.ts');
    const { generate } = await import('./model/generate.ts');
    const { makeLayout } = await import('./tokens/layout-registry.ts');
    const { decodeCodes } = await import('./codec/decode-codes.ts');
    const { seedRandomOps } = await import('./codec/random-ops.ts');
    const p = ctx.params;
    const shards = ctx.input('shards');
    const meta = readShardsMeta(shards);
    const layout = makeLayout(meta.layout, meta.codebook_size);
    const perFrame = layout.spec.tokensPerFrame;

    // The prompt: whole frames from the start of the val split (the first val chapter).
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
    const model = await openModel(ctx.input('model'), p.backend, p.device);
    if (model.config.vocabSize < meta.vocab_size)
      throw new StageError(
        `the model's vocabulary (${model.config.vocabSize}) is smaller than the shards' (${meta.vocab_size})`,
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
    const tokensPerSec = (p.count * maxNewTokens) / seconds;

    // Tokens → codes → audio.
    const facts = JSON.parse(readFileSync(join(ctx.input('codec'), 'codec.json'), 'utf8'));
    // The decoder's random ops (SNAC's noise blocks) seeded from sample.seed: reruns give the same bytes.
    const decoder = seedRandomOps(readFileSync(join(ctx.input('codec'), 'decoder.onnx')), p.seed);
    if (decoder.seeded.length > 0)
      ctx.log(`decoder: seeded ${decoder.seeded.length} random op(s) from sample.seed ${p.seed}`);
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
      const audio = await decodeCodes(decoder.model, 'decoder.onnx', facts, codes);
      await writeWav(join(ctx.outDir, 'samples', `${name}.wav`), audio, facts.sample_rate);
      const info = {
        name,
        wav: `samples/${name}.wav`,
        prompt_tokens: prompt.length,
        new_tokens: generated.length,
        frames: codes.levels[0].length,
        dropped_frames: codes.dropped,
        seconds: audio.length / facts.sample_rate,
        prompt_seconds: (p.prompt_frames * facts.frame_samples) / facts.sample_rate,
        tokens: Array.from(sequence),
      };
      writeFileSync(join(ctx.outDir, 'samples', `${name}.json`), `${JSON.stringify(info)}\n`);
      const { tokens: _tokens, ...summary } = info;
      samples.push(summary);
    }
    // The reference: the real span decoded exactly as the samples are (same decoder, same seed).
    const realCodes = layout.unflatten(real);
    const referenceAudio = await decodeCodes(decoder.model, 'decoder.onnx', facts, realCodes);
    await writeWav(join(ctx.outDir, 'reference.wav'), referenceAudio, facts.sample_rate);
    const reference = {
      wav: 'reference.wav',
      frames: realCodes.levels[0].length,
      seconds: referenceAudio.length / facts.sample_rate,
    };
    const validShare = validFrames / Math.max(1, validFrames + droppedFrames);
    const report = {
      count: p.count,
      constrained: p.constrained,
      kv_cache: p.kv_cache,
      valid_frame_share: validShare,
      tokens_per_sec: Math.round(tokensPerSec * 10) / 10,
      backend: model.backend,
      // The decoder's random ops and the seed each was given (empty: a deterministic decoder).
      decoder_random_ops: decoder.seeded,
      samples,
      reference,
    };
    writeFileSync(join(ctx.outDir, 'samples.json'), `${JSON.stringify(report, null, 2)}\n`);
    ctx.metric('valid_frame_share', validShare);
    ctx.metric('sample_tokens_per_sec', report.tokens_per_sec);
    ctx.log(
      `${p.count} samples of ${p.max_new_frames} frames (${report.tokens_per_sec} tok/s` +
        `${p.kv_cache ? ', KV cache' : ''}); valid frames ${(100 * validShare).toFixed(1)}%`,
    );
  },
});

async function writeWav(path: string, samples: Float32Array, sampleRate: number): Promise<void> {
  const { WavWriter } = await import('./audio/wav-writer.ts');
  const writer = new WavWriter(path, sampleRate, 'pcm16');
  writer.write(samples);
  writer.close();
}
