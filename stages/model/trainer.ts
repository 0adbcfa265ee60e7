// The training loop of build-nanogpt's train_gpt2.py: gradient accumulation up to total_batch,
// global-norm clipping, AdamW with warmup + cosine LR, val loss every eval_interval steps, and
// resume checkpoints every checkpoint_interval steps (and when interrupted). This file sets a run up
// and drives it; each step is training-run.ts's.
import type { StageProgress } from '../../src/stage-api/index.ts';
import { AdamW, type Optimizer } from './adamw.ts';
import {
  latestCheckpoint,
  readCheckpointState,
  readOptimizer,
  readWeights,
  type TrainerState,
} from './checkpoint.ts';
import type { GptConfig } from './config.ts';
import { initialWeights } from './gpt.ts';
import { type GradientEngine, Interrupted } from './gradients.ts';
import { TokenLoader } from './loader.ts';
import type { NamedTensor } from './safetensors.ts';
import { TrainingRun } from './training-run.ts';

export interface TrainSettings {
  config: GptConfig;
  microBatch: number;
  contextLength: number;
  totalBatch: number;
  maxSteps: number;
  warmupSteps: number;
  maxLr: number;
  minLr: number;
  weightDecay: number;
  gradClip: number;
  seed: number;
  evalInterval: number;
  evalSteps: number;
  checkpointInterval: number;
}

/** What runs the passes, for logs, metrics and the checkpoint's state (a tfjs backend, or onnxruntime). */
export interface BackendInfo {
  name: string;
  detail: string;
}

export interface TrainIo {
  backend: BackendInfo;
  /** Weights to start from (train.init_from); absent: build-nanogpt's random init from the seed. */
  initialWeights?: Map<string, NamedTensor>;
  /** Starts the gradient engine (in process or worker threads) with the initial weights. */
  engine(weights: ReadonlyMap<string, NamedTensor>): Promise<GradientEngine>;
  train: { files: string[]; tokens: number };
  val: { files: string[]; tokens: number };
  /** Survives an interrupted run of this stage key; resume checkpoints go here. */
  resumeDir: string;
  /** The final checkpoint, metrics.jsonl (every step and val line) and summary.json go here. */
  outDir: string;
  log(line: string): void;
  progress(p: StageProgress): void;
  signal: AbortSignal;
}

export interface TrainSummary {
  steps: number;
  resumed_from: number;
  final_loss: number;
  best_val_loss: number | null;
  final_val_loss: number | null;
  tokens_per_sec: number;
  train_seconds: number;
  parameters: number;
  backend: string;
  backend_detail: string;
}

export async function train(s: TrainSettings, io: TrainIo): Promise<TrainSummary> {
  const { trainLoader, valLoader } = openLoaders(s, io);
  const start = startingPoint(s, io, trainLoader);
  const engine = await io.engine(start.weights);
  let optimizer: Optimizer;
  try {
    // Clipping and AdamW where the engine keeps them (onnxruntime: a second graph), else on the host.
    const options = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: s.weightDecay };
    optimizer = (await engine.optimizer?.(start.weights, options)) ?? new AdamW(start.weights, options);
    if (start.resumeFrom) optimizer.load(readOptimizer(start.resumeFrom), start.state.step);
  } catch (error) {
    await engine.dispose();
    throw error;
  }
  const run = new TrainingRun(s, io, { ...start, trainLoader, valLoader, optimizer, engine });
  io.log(
    `${run.parameters.toLocaleString('en-US')} parameters; ${s.maxSteps} steps of ${s.totalBatch} tokens ` +
      `(${run.accumulation} × ${s.microBatch}×${s.contextLength}); backend ${io.backend.name} (${io.backend.detail}), ${engine.description}`,
  );
  try {
    while (run.state.step < s.maxSteps) {
      await run.step();
      // Let progress events and Ctrl-C through between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } catch (error) {
    // Keep what was computed: a rerun of the same stage key continues from here.
    if (error instanceof Interrupted || io.signal.aborted) run.saveWholeSteps();
    await engine.dispose();
    throw error;
  }
  await engine.dispose();
  return run.finish();
}

/** The train loader, and the val loader when the val split holds at least one batch. */
function openLoaders(s: TrainSettings, io: TrainIo): { trainLoader: TokenLoader; valLoader?: TokenLoader } {
  const B = s.microBatch;
  const T = s.contextLength;
  const trainLoader = new TokenLoader(io.train.files, B, T, io.train.tokens, 'train');
  if (io.val.tokens >= B * T + 1 && s.evalSteps > 0)
    return { trainLoader, valLoader: new TokenLoader(io.val.files, B, T, io.val.tokens, 'val') };
  io.log(`val split too small for one ${B}×${T} batch (${io.val.tokens} tokens): no val loss`);
  return { trainLoader };
}

/**
 * Fresh, or the newest resume checkpoint of this exact stage key. The master weights live in host
 * arrays (an engine's optimizer may swap in new ones); the engine's replicas get the weights before
 * every pass.
 */
function startingPoint(
  s: TrainSettings,
  io: TrainIo,
  trainLoader: TokenLoader,
): { state: TrainerState; weights: Map<string, NamedTensor>; resumeFrom?: string } {
  const resumeFrom = latestCheckpoint(io.resumeDir);
  if (!resumeFrom) {
    const state = { step: 0, loader: trainLoader.state, elapsed: 0, metrics: [], backend: io.backend.name };
    return { state, weights: io.initialWeights ?? initialWeights(s.config, s.seed) };
  }
  const state = readCheckpointState(resumeFrom);
  trainLoader.seek(state.loader);
  io.log(`resuming from step ${state.step} (${resumeFrom})`);
  return { state, weights: readWeights(resumeFrom), resumeFrom };
}
