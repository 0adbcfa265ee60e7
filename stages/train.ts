// `train`: build-nanogpt's GPT-2 trained on the shards with TensorFlow.js or ONNX Runtime
// (`backend`; `device` picks ONNX Runtime's execution provider).
// Output: the final checkpoint in Hugging Face GPT-2 form (model.safetensors + config.json, loads
// with transformers without conversion), the AdamW state beside it, metrics.jsonl (a line per step
// and per val check) and summary.json. An interrupted run continues from its last checkpoint.
import * as v from 'valibot';
import { defineStage, StageError } from '../src/stage-api/index.ts';
import { parseModelSource } from './lib/model-source.ts';
import { unsetWhenNull } from './lib/unset.ts';
import { DEVICES, type Device, TRAIN_BACKENDS, type TrainBackendChoice } from './model/backend.ts';
import type { GptConfig } from './model/config.ts';
import type { TrainIo } from './model/trainer.ts';

const positiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));
const rate = v.pipe(v.number(), v.minValue(0));
// null means "derived" (see the defaults in run()).
const auto = <S extends v.GenericSchema>(schema: S) => v.optional(v.nullable(schema), null);

export default defineStage({
  name: 'train',
  // 2: gradients per sequence, summed in order (worker threads). 3: attention per head from qkv.
  // 4: auto runs onnxruntime (was the best tfjs backend).
  version: 4,
  description:
    'train a GPT-2 on the token shards with ONNX Runtime or TensorFlow.js; Hugging Face checkpoint out',
  params: v.pipe(
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
      init_sha256: unsetWhenNull(
        v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'init_sha256 is 64 hex digits')),
      ),
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
          p.micro_batch < 1 ||
          p.context_length < 1 ||
          p.total_batch % (p.micro_batch * p.context_length) === 0,
        'total_batch must be divisible by micro_batch × context_length (gradient accumulation takes whole micro-batches)',
      ),
      ['total_batch'],
    ),
  ),
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
    const { readShardsMeta } = await import('./model/shards-meta.ts');
    const { padVocab } = await import('./model/config.ts');
    const { shardFiles } = await import('./model/loader.ts');
    const { train } = await import('./model/trainer.ts');
    const p = ctx.params;
    const shards = ctx.input('shards');
    const meta = readShardsMeta(shards);
    const vocabSize = p.vocab_size ?? padVocab(meta.vocab_size, p.vocab_multiple);
    if (vocabSize < meta.vocab_size)
      throw new StageError(
        `vocab_size ${vocabSize} is smaller than the shards' vocabulary (${meta.vocab_size})`,
        {
          hint: 'set model.vocab_size to null (derived) or at least the shards’ vocab_size',
        },
      );
    const config = {
      vocabSize,
      blockSize: p.context_length,
      nLayer: p.n_layer,
      nHead: p.n_head,
      nEmbd: p.n_embd,
    };
    const { chooseEngine } = await import('./model/engine-choice.ts');
    const engine = chooseEngine(p.backend, p.device);
    if (engine.backend === 'onnxruntime' && engine.device === 'cpu')
      await assertStepFits(config, p.micro_batch, p.total_batch / p.context_length);
    const { initCheckpointFile, readInitWeights } = await import('./model/init-from.ts');
    const init = await initCheckpointFile(ctx, p.init_from, p.init_sha256, ctx.resumeDir);
    const initialWeights = init && readInitWeights(config, init.file, init.from);
    if (init) ctx.log(`starting from the weights of ${init.from}`);
    const maxSteps = p.max_steps ?? Math.max(1, Math.floor(meta.train.tokens / p.total_batch));
    const summary = await train(
      {
        config,
        microBatch: p.micro_batch,
        contextLength: p.context_length,
        totalBatch: p.total_batch,
        maxSteps,
        warmupSteps: p.warmup_steps ?? Math.max(1, Math.round(0.1 * maxSteps)),
        maxLr: p.max_lr,
        minLr: p.min_lr ?? p.max_lr / 10,
        weightDecay: p.weight_decay,
        gradClip: p.grad_clip,
        seed: p.seed,
        evalInterval: p.eval_interval,
        evalSteps: p.eval_steps,
        checkpointInterval: p.checkpoint_interval,
      },
      {
        ...(await startBackend(engine.backend, engine.device, config, p.micro_batch)),
        initialWeights,
        train: { files: shardFiles(shards, 'train'), tokens: meta.train.tokens },
        val: { files: shardFiles(shards, 'val'), tokens: meta.val.tokens },
        resumeDir: ctx.resumeDir,
        outDir: ctx.outDir,
        log: ctx.log,
        progress: ctx.progress,
        signal: ctx.signal,
      },
    );
    for (const [name, value] of Object.entries(summary)) ctx.metric(name, value);
    ctx.log(
      `final loss ${summary.final_loss.toFixed(4)}` +
        (summary.best_val_loss === null ? '' : `, best val ${summary.best_val_loss.toFixed(4)}`) +
        `, ${summary.tokens_per_sec} tok/s on ${summary.backend}`,
    );
  },
});

/**
 * Refuses, before anything starts, a micro-batch whose training step would not fit in memory,
 * naming the largest one that does (ONNX Runtime on the CPU; the estimate is onnx/memory.ts's).
 */
async function assertStepFits(
  config: GptConfig,
  microBatch: number,
  sequencesPerStep: number,
): Promise<void> {
  const { estimateStepBytes, fittingMicroBatch, gib, memoryBudget } = await import('./model/onnx/memory.ts');
  const budget = memoryBudget();
  const needed = estimateStepBytes(config, microBatch);
  if (needed <= budget) return;
  const fits = fittingMicroBatch(config, sequencesPerStep, budget);
  const what = `${config.nLayer} layers, ${config.nEmbd} wide, context ${config.blockSize}`;
  throw new StageError(
    `micro_batch ${microBatch} needs about ${gib(needed)} GiB for one onnxruntime training step (${what}); ` +
      `this machine has ${gib(budget)} GiB`,
    {
      hint: fits
        ? `set train.micro_batch to ${fits} (about ${gib(estimateStepBytes(config, fits))} GiB); total_batch stays the same through gradient accumulation`
        : `not even micro_batch 1 fits (about ${gib(estimateStepBytes(config, 1))} GiB): lower context_length or the model size`,
    },
  );
}

/** The backend's description and a way to start its gradient engine with the initial weights. */
async function startBackend(
  name: Exclude<TrainBackendChoice, 'auto'>,
  device: Device,
  config: GptConfig,
  microBatch: number,
): Promise<Pick<TrainIo, 'backend' | 'engine'>> {
  if (name === 'onnxruntime') {
    const { OrtGradients } = await import('./model/onnx/ort-engine.ts');
    const ort = await import('onnxruntime-node');
    return {
      backend: { name, detail: `onnxruntime-node ${ort.env.versions.common}, ${device}` },
      engine: () => OrtGradients.start(config, { device, microBatch }),
    };
  }
  const { loadBackend } = await import('./model/backend.ts');
  const { startEngine } = await import('./model/gradients.ts');
  const backend = await loadBackend(name);
  return { backend, engine: (weights) => startEngine(backend, config, weights) };
}
