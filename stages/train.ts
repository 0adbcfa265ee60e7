// `train`: build-nanogpt's GPT-2 trained on the shards with TensorFlow.js or ONNX Runtime
// (`backend`; `device` picks ONNX Runtime's execution provider).
// Output: the final checkpoint in Hugging Face GPT-2 form (model.safetensors + config.json, loads
// with transformers without conversion), the AdamW state beside it, metrics.jsonl (a line per step
// and per val check) and summary.json. An interrupted run continues from its last checkpoint. The work is train-run.ts.
import * as v from 'valibot';
import { defineStage } from '../src/stage-api/index.ts';
import { parseModelSource } from './lib/model-source.ts';
import { unsetWhenNull } from './lib/unset.ts';
import { DEVICES, TRAIN_BACKENDS } from './model/backend.ts';

const positiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));
const rate = v.pipe(v.number(), v.minValue(0));
// null means "derived" (see the defaults in train-run.ts).
const auto = <S extends v.GenericSchema>(schema: S) => v.optional(v.nullable(schema), null);

const params = v.pipe(
  v.strictObject({
    n_layer: v.optional(positiveInt, 12),
    n_head: v.optional(positiveInt, 12),
    n_embd: v.optional(positiveInt, 768),
    // null: the shards' vocabulary (meta.json) rounded up to vocab_multiple.
    vocab_size: auto(positiveInt),
    vocab_multiple: v.optional(positiveInt, 64),
    context_length: v.optional(positiveInt, 2048),
    micro_batch: v.optional(positiveInt, 8),
    total_batch: v.optional(positiveInt, 32768),
    // null: one pass over the train tokens.
    max_steps: auto(positiveInt),
    // null: 10% of max_steps (at least 1).
    warmup_steps: auto(v.pipe(v.number(), v.integer(), v.minValue(0))),
    max_lr: v.optional(rate, 0.0018),
    // null: max_lr / 10.
    min_lr: auto(rate),
    weight_decay: v.optional(rate, 0.1),
    grad_clip: v.optional(rate, 1.0),
    seed: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 1337),
    eval_interval: v.optional(positiveInt, 25),
    eval_steps: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 20),
    checkpoint_interval: v.optional(positiveInt, 100),
    backend: v.optional(v.picklist(TRAIN_BACKENDS), 'auto'),
    // onnxruntime only; absent means cpu. No default, so the keys of runs that never set it stay.
    device: unsetWhenNull(v.picklist(DEVICES)),
    // A GPT-2 checkpoint to start from (HF safetensors): a local file or folder, an http(s) URL
    // or hf:OWNER/REPO/PATH[@REV]; or bind another train stage as needs: {init: <stage>}.
    init_from: unsetWhenNull(
      v.pipe(
        v.string(),
        v.rawCheck(({ dataset, addIssue }) => {
          if (!dataset.typed) return;
          const parsed = parseModelSource(dataset.value);
          if ('error' in parsed) addIssue({ message: parsed.error });
        }),
      ),
    ),
    // The SHA-256 a remote init_from must have (its URL alone is in the key).
    init_sha256: unsetWhenNull(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'init_sha256 is 64 hex digits'))),
  }),
  v.forward(
    v.check(
      (p) => p.device === undefined || p.backend === 'onnxruntime' || p.backend === 'auto',
      'device applies to backends onnxruntime and auto (the tfjs backends pick their device by name)',
    ),
    ['device'],
  ),
  v.forward(
    v.check(
      (p) => p.n_embd % p.n_head === 0,
      (issue) => `n_embd must be a multiple of n_head (got ${JSON.stringify(issue.input)})`,
    ),
    ['n_embd'],
  ),
  v.forward(
    v.check(
      // A micro_batch or context_length below 1 is reported on its own line, not here.
      (p) =>
        p.micro_batch < 1 || p.context_length < 1 || p.total_batch % (p.micro_batch * p.context_length) === 0,
      'total_batch must be divisible by micro_batch × context_length (gradient accumulation takes whole micro-batches)',
    ),
    ['total_batch'],
  ),
);

/** The validated `with:` of a train stage. */
export type TrainParams = v.InferOutput<typeof params>;

export default defineStage({
  name: 'train',
  // 2: gradients per sequence, summed in order (worker threads). 3: attention per head from qkv.
  // 4: auto runs onnxruntime (was the best tfjs backend).
  version: 4,
  description:
    'train a GPT-2 on the token shards with ONNX Runtime or TensorFlow.js; Hugging Face checkpoint out',
  params,
  inputs: ['shards'],
  // Of another train stage bound as needs: {init: …}, only its weights.
  reads: { init: ['model.safetensors', 'config.json'] },
  // A local init_from checkpoint is read from the project: its content is part of the key.
  deps(p) {
    if (p.init_from === undefined) return [];
    const source = parseModelSource(p.init_from);
    return 'kind' in source && source.kind === 'local' ? [source.path] : [];
  },
  async run(ctx) {
    const { runTrain } = await import('./train-run.ts');
    await runTrain(ctx);
  },
});
