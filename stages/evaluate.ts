// `evaluate`: validation loss and perplexity of the trained model over the val split (all of it, or
// the first `max_tokens`), plus the loss by place in a frame and by codebook level (from the token
// layout), written to metrics.json; `compare` reads it. Same protocol as scripts/torch_gpt2.py. The work is
// evaluate-run.ts.
import * as v from 'valibot';
import { defineStage } from '../src/stage-api/index.ts';
import { unsetWhenNull } from './lib/unset.ts';
import { DEVICES, TRAIN_BACKENDS } from './model/backend.ts';

const params = v.pipe(
  v.strictObject({
    // null: the whole val split.
    max_tokens: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(2))), null),
    // Windows per forward pass.
    batch_size: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 4),
    // The pipeline passes train.backend: the model is evaluated on the engine it trained on.
    backend: v.optional(v.picklist(TRAIN_BACKENDS), 'auto'),
    // onnxruntime only; absent means cpu (no default, so existing keys stay).
    device: unsetWhenNull(v.picklist(DEVICES)),
  }),
  v.forward(
    v.check(
      (p) => p.device === undefined || p.backend === 'onnxruntime' || p.backend === 'auto',
      'device applies to backends onnxruntime and auto (the tfjs backends pick their device by name)',
    ),
    ['device'],
  ),
);

/** The validated `with:` of an evaluate stage. */
export type EvaluateParams = v.InferOutput<typeof params>;

export default defineStage({
  name: 'evaluate',
  // 2: attention per head from qkv (same math, other rounding). 3: auto runs onnxruntime.
  version: 3,
  description: 'val loss, perplexity and loss per frame position / codebook level',
  params,
  inputs: ['model', 'shards'],
  // The weights, not train's metrics (which hold timings): a retrain to the same weights keeps
  // this stage cached. Only the val split of the shards.
  reads: { model: ['model.safetensors', 'config.json'], shards: ['meta.json', 'val_*'] },
  async run(ctx) {
    const { runEvaluate } = await import('./evaluate-run.ts');
    await runEvaluate(ctx);
  },
});
