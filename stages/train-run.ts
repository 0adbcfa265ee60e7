// The body of the `train` stage, loaded only when it runs: derive the model's config from the
// params and the shards' meta.json, refuse a step that would not fit in memory, start the chosen
// gradient engine and train (model/trainer.ts). The engine's runtime (onnxruntime-node or
// TensorFlow.js, inside loadBackend) is imported only once chosen: loading the other costs seconds.
import { formatBytes, type StageContext, StageError } from '../src/stage-api/index.ts';
import { readShardsMeta } from './contracts/shards-meta.ts';
import { type Device, loadBackend, type TrainBackendChoice } from './model/backend.ts';
import { type GptConfig, padVocab } from './model/config.ts';
import { chooseEngine, startEngine } from './model/engine-choice.ts';
import { initCheckpointFile, readInitWeights } from './model/init-from.ts';
import { shardFiles } from './model/loader.ts';
import { estimateStepBytes, fittingMicroBatch } from './model/onnx/memory.ts';
import { type TrainIo, type TrainSettings, train } from './model/trainer.ts';
import type { TrainParams } from './train.ts';

export async function runTrain(ctx: StageContext<TrainParams>): Promise<void> {
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
  const engine = chooseEngine(p.backend, p.device);
  if (engine.backend === 'onnxruntime' && engine.device === 'cpu')
    assertStepFits(config, p.micro_batch, p.total_batch / p.context_length, ctx.memoryBytes);
  const init = await initCheckpointFile(ctx, p.init_from, p.init_sha256, ctx.resumeDir);
  const initialWeights = init && readInitWeights(config, init.file, init.from);
  if (init) ctx.log(`starting from the weights of ${init.from}`);
  const maxSteps = p.max_steps ?? Math.max(1, Math.floor(meta.train.tokens / p.total_batch));
  const summary = await train(settingsOf(p, config, maxSteps), {
    ...(await startBackend(engine.backend, engine.device, config, {
      microBatch: p.micro_batch,
      workers: ctx.workers,
      threads: ctx.threads,
    })),
    initialWeights,
    train: { files: shardFiles(shards, 'train'), tokens: meta.train.tokens },
    val: { files: shardFiles(shards, 'val'), tokens: meta.val.tokens },
    resumeDir: ctx.resumeDir,
    outDir: ctx.outDir,
    log: ctx.log,
    progress: ctx.progress,
    signal: ctx.signal,
  });
  for (const [name, value] of Object.entries(summary)) ctx.metric(name, value);
  ctx.log(
    `final loss ${summary.final_loss.toFixed(4)}` +
      (summary.best_val_loss === null ? '' : `, best val ${summary.best_val_loss.toFixed(4)}`) +
      `, ${summary.tokens_per_sec} tok/s on ${summary.backend}`,
  );
}

/** The trainer's settings: the params, with the derived defaults (null) filled in. */
function settingsOf(p: TrainParams, config: GptConfig, maxSteps: number): TrainSettings {
  return {
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
  };
}

/**
 * Refuses, before anything starts, a micro-batch whose training step would not fit in memory,
 * naming the largest one that does (ONNX Runtime on the CPU; the estimate is onnx/memory.ts's).
 */
function assertStepFits(
  config: GptConfig,
  microBatch: number,
  sequencesPerStep: number,
  /** ctx.memoryBytes: GPT2O_MEMORY_LIMIT, else the machine's memory. */
  budget: number,
): void {
  const needed = estimateStepBytes(config, microBatch);
  if (needed <= budget) return;
  const fits = fittingMicroBatch(config, sequencesPerStep, budget);
  const what = `${config.nLayer} layers, ${config.nEmbd} wide, context ${config.blockSize}`;
  throw new StageError(
    `micro_batch ${microBatch} needs about ${formatBytes(needed)} for one onnxruntime training step (${what}); ` +
      `this machine has ${formatBytes(budget)}`,
    {
      hint: fits
        ? `set train.micro_batch to ${fits} (about ${formatBytes(estimateStepBytes(config, fits))}); total_batch stays the same through gradient accumulation`
        : `not even micro_batch 1 fits (about ${formatBytes(estimateStepBytes(config, 1))}): lower context_length or the model size`,
    },
  );
}

/** The backend's description and a way to start its gradient engine with the initial weights. */
async function startBackend(
  name: Exclude<TrainBackendChoice, 'auto'>,
  device: Device,
  config: GptConfig,
  options: { microBatch: number; workers: number; threads: number },
): Promise<Pick<TrainIo, 'backend' | 'engine'>> {
  if (name === 'onnxruntime') {
    const { OrtGradients } = await import('./model/onnx/ort-engine.ts');
    const ort = await import('onnxruntime-node');
    return {
      backend: { name, detail: `onnxruntime-node ${ort.env.versions.common}, ${device}` },
      engine: () =>
        OrtGradients.start(config, { device, microBatch: options.microBatch, threads: options.threads }),
    };
  }
  const backend = await loadBackend(name);
  return { backend, engine: (weights) => startEngine(backend, config, weights, options.workers) };
}
