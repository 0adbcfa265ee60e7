// The training loop of build-nanogpt's train_gpt2.py: gradient accumulation up to total_batch,
// global-norm clipping, AdamW with warmup + cosine LR, val loss every eval_interval steps, and
// resume checkpoints every checkpoint_interval steps (and when interrupted).
import type { Tensor } from '@tensorflow/tfjs';
import type { StageProgress } from '../../src/stage-api/index.ts';
import { AdamW, clipByGlobalNorm, learningRate } from './adamw.ts';
import type { LoadedBackend } from './backend.ts';
import {
  type Checkpoint,
  latestCheckpoint,
  readCheckpointState,
  readOptimizer,
  readWeights,
  saveResumeCheckpoint,
  type TrainerState,
  writeCheckpoint,
} from './checkpoint.ts';
import { type GptConfig, parameterCount } from './config.ts';
import { Gpt, initialWeights } from './gpt.ts';
import { TokenLoader } from './loader.ts';

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

export interface TrainIo {
  backend: LoadedBackend;
  train: { files: string[]; tokens: number };
  val: { files: string[]; tokens: number };
  /** Survives an interrupted run of this stage key; resume checkpoints go here. */
  resumeDir: string;
  /** The final checkpoint and metrics go here. */
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

export class Interrupted extends Error {}

export async function train(s: TrainSettings, io: TrainIo): Promise<TrainSummary> {
  const { tf } = io.backend;
  const B = s.microBatch;
  const T = s.contextLength;
  const accumulation = s.totalBatch / (B * T);
  const trainLoader = new TokenLoader(io.train.files, B, T, io.train.tokens, 'train');
  const valLoader =
    io.val.tokens >= B * T + 1 && s.evalSteps > 0
      ? new TokenLoader(io.val.files, B, T, io.val.tokens, 'val')
      : undefined;
  if (!valLoader)
    io.log(`val split too small for one ${B}×${T} batch (${io.val.tokens} tokens): no val loss`);

  // Start fresh, or from the newest resume checkpoint of this exact stage key.
  const resumeFrom = latestCheckpoint(io.resumeDir);
  let state: TrainerState;
  let model: Gpt;
  let optimizer: AdamW;
  if (resumeFrom) {
    state = readCheckpointState(resumeFrom);
    model = new Gpt(tf, s.config, readWeights(resumeFrom));
    optimizer = newOptimizer(tf, model.params, s);
    optimizer.load(readOptimizer(resumeFrom), state.step);
    trainLoader.seek(state.loader);
    io.log(`resuming from step ${state.step} (${resumeFrom})`);
  } else {
    state = { step: 0, loader: trainLoader.state, elapsed: 0, metrics: [], backend: io.backend.name };
    model = new Gpt(tf, s.config, initialWeights(s.config, s.seed));
    optimizer = newOptimizer(tf, model.params, s);
  }
  const resumedFrom = state.step;
  const parameters = parameterCount(s.config);
  io.log(
    `${parameters.toLocaleString('en-US')} parameters; ${s.maxSteps} steps of ${s.totalBatch} tokens ` +
      `(${accumulation} × ${B}×${T}); backend ${io.backend.name} (${io.backend.detail})`,
  );

  const checkpoint = (): Checkpoint => ({
    config: s.config,
    weights: model.weights(),
    optimizer: optimizer.state(),
    state: { ...state, loader: trainLoader.state },
  });
  const sessionStart = performance.now();
  const elapsedAtStart = state.elapsed;
  const elapsed = () => elapsedAtStart + (performance.now() - sessionStart) / 1000;
  let sessionTokens = 0;
  // Where the step in progress started reading: an interrupt between its micro-batches rewinds here.
  let stepStart = trainLoader.state;

  try {
    for (; state.step < s.maxSteps; ) {
      const step = state.step;
      stepStart = trainLoader.state;
      const last = step === s.maxSteps - 1;
      if (valLoader && (step % s.evalInterval === 0 || last)) {
        const valLoss = evaluateLoss(model, valLoader, s.evalSteps);
        state.metrics.push({ step, val_loss: valLoss, elapsed: round(elapsed(), 3) });
        io.log(`step ${step}: val loss ${valLoss.toFixed(4)}`);
      }
      const t0 = performance.now();
      let lossSum = 0;
      let grads: Map<string, Tensor> | undefined;
      for (let micro = 0; micro < accumulation; micro++) {
        if (io.signal.aborted) {
          if (grads) tf.dispose([...grads.values()]); // the micro-batches summed so far
          throw new Interrupted();
        }
        const batch = trainLoader.next();
        const { loss, grads: g } = model.lossAndGrads(batch.ids, batch.targets, B, T, 1 / accumulation);
        lossSum += loss;
        grads = accumulate(tf, grads, g);
        // Let Ctrl-C and progress events through between micro-batches.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const gradNorm = clipByGlobalNorm(tf, grads!, s.gradClip);
      const lr = learningRate(step, {
        maxLr: s.maxLr,
        minLr: s.minLr,
        warmup: s.warmupSteps,
        maxSteps: s.maxSteps,
      });
      optimizer.apply(grads!, lr);
      state.step++;
      sessionTokens += s.totalBatch;
      const seconds = (performance.now() - t0) / 1000;
      const memory = tf.memory();
      const line = {
        step,
        loss: lossSum,
        lr,
        grad_norm: gradNorm,
        tokens_per_sec: round(s.totalBatch / seconds, 1),
        elapsed: round(elapsed(), 3),
        tensors: memory.numTensors,
      };
      state.metrics.push(line);
      const rate = sessionTokens / (elapsed() - elapsedAtStart);
      const eta = ((s.maxSteps - state.step) * s.totalBatch) / rate;
      io.progress({
        done: state.step,
        total: s.maxSteps,
        unit: 'steps',
        message: `loss ${lossSum.toFixed(4)}, ${Math.round(rate)} tok/s, ETA ${formatSeconds(eta)}`,
      });
      if (state.step % s.checkpointInterval === 0 && state.step < s.maxSteps) {
        state.elapsed = elapsed();
        saveResumeCheckpoint(io.resumeDir, checkpoint());
      }
    }
  } catch (error) {
    // Keep what was computed: a rerun of the same stage key continues from here.
    if (error instanceof Interrupted || io.signal.aborted) {
      state.elapsed = elapsed();
      // Save whole steps only: the resumed run redoes the unfinished step from its first batch (and
      // its val check), as an uninterrupted run would, without a second val line for it.
      trainLoader.seek(stepStart);
      state.metrics = state.metrics.filter((m) => (m.step as number) < state.step);
      if (state.step > resumedFrom) saveResumeCheckpoint(io.resumeDir, checkpoint());
    }
    model.dispose();
    optimizer.dispose();
    throw error;
  }

  state.elapsed = elapsed();
  writeCheckpoint(io.outDir, checkpoint());
  model.dispose();
  optimizer.dispose();
  const trainLines = state.metrics.filter((m) => 'loss' in m) as { loss: number }[];
  const valLosses = state.metrics.filter((m) => 'val_loss' in m).map((m) => m.val_loss as number);
  const trainedTokens = (s.maxSteps - resumedFrom) * s.totalBatch;
  return {
    steps: s.maxSteps,
    resumed_from: resumedFrom,
    final_loss: trainLines.at(-1)?.loss ?? Number.NaN,
    best_val_loss: valLosses.length ? Math.min(...valLosses) : null,
    final_val_loss: valLosses.at(-1) ?? null,
    tokens_per_sec: round(trainedTokens / Math.max(1e-9, state.elapsed - elapsedAtStart), 1),
    train_seconds: round(state.elapsed, 3),
    parameters,
    backend: io.backend.name,
    backend_detail: io.backend.detail,
  };
}

function newOptimizer(tf: LoadedBackend['tf'], params: Gpt['params'], s: TrainSettings): AdamW {
  return new AdamW(tf, params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: s.weightDecay });
}

/** Sums gradient maps, disposing what it replaces. */
function accumulate(
  tf: LoadedBackend['tf'],
  sum: Map<string, Tensor> | undefined,
  grads: Map<string, Tensor>,
): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, g] of grads) {
    const previous = sum?.get(name);
    if (previous) {
      out.set(name, tf.add(previous, g));
      previous.dispose();
      g.dispose();
    } else out.set(name, g);
  }
  return out;
}

/** Mean loss over `steps` batches from the start of the val split (build-nanogpt's val check). */
export function evaluateLoss(model: Gpt, loader: TokenLoader, steps: number): number {
  loader.reset();
  let sum = 0;
  for (let i = 0; i < steps; i++) {
    const batch = loader.next();
    const loss = model.tf.tidy(() => model.loss(batch.ids, batch.targets, loader.B, loader.T));
    sum += loss.dataSync()[0]!;
    loss.dispose();
  }
  return sum / steps;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 90) return `${Math.round(s)}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}
