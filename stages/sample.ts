// `sample`: the trained GPT continues a prompt (the first `prompt_frames` frames of the first val
// chapter) into new token streams; the token layout turns them back into codec codes and the codec
// decoder (onnxruntime-node) into 24 kHz WAV files. Constrained decoding (default) allows only the
// ids legal at each place of a frame, so every sample unflattens into whole frames.
// Beside the samples, `reference.wav`: the real continuation, i.e. the same span of the val split
// (prompt plus max_new_frames frames) decoded through the same codec path, so a listener hears
// what the model should have produced (`compare --html` shows it as the reference row).
import * as v from 'valibot';
import { defineStage } from '../src/stage-api/index.ts';
import { unsetWhenNull } from './lib/unset.ts';
import { DEVICES, TRAIN_BACKENDS } from './model/backend.ts';

const params = v.strictObject({
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
});

/** The validated `with:` of a sample stage. */
export type SampleParams = v.InferOutput<typeof params>;

export default defineStage({
  name: 'sample',
  // 2: attention per head from qkv (same math, other rounding). 3: the decoder's random ops
  // seeded. 4: auto runs onnxruntime, and plain temperature sampling draws over ids in id order.
  // 5: writes reference.wav (the val span the samples continue, through the codec).
  version: 5,
  description: 'generate token streams with the GPT and decode them to audio with the codec',
  params,
  inputs: ['model', 'shards', 'codec'],
  // As evaluate: the weights and the val split (the prompts); of the codec, its decoder.
  reads: {
    model: ['model.safetensors', 'config.json'],
    shards: ['meta.json', 'val_*'],
    codec: ['codec.json', 'decoder.onnx'],
  },
  async run(ctx) {
    const { runSample } = await import('./sample-run.ts');
    await runSample(ctx);
  },
});
