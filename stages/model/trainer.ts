// The training loop of build-nanogpt's train_gpt2.py: gradient accumulation up to total_batch,
// global-norm clipping, AdamW with warmup + cosine LR, val loss every eval_interval steps, and
// resume checkpoints every checkpoint_interval steps (and when interrupted).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StageProgress } from '../../src/stage-api/index.ts';
import { AdamW, learningRate, type Optimizer } from './adamw.ts';
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
import { initialWeights } from './gpt.ts';
import { type GradientEngine, Interrupted, type Sequence } from './gradients.ts';
import { type Batch, TokenLoader } from './loader.ts';
import type { NamedTensor } from './safetensors.ts';

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

  // Start fresh, or from the newest resume checkpoint of this exact stage key. The master weights
  // live in host arrays (an engine's optimizer may swap in new ones); the engine's replicas get
  // the weights before every pass.
  const resumeFrom = latestCheckpoint(io.resumeDir);
  let state: TrainerState;
  let weights: Map<string, NamedTensor>;
  if (resumeFrom) {
    state = readCheckpointState(resumeFrom);
    weights = readWeights(resumeFrom);
    trainLoader.seek(state.loader);
    io.log(`resuming from step ${state.step} (${resumeFrom})`);
  } else {
    state = { step: 0, loader: trainLoader.state, elapsed: 0, metrics: [], backend: io.backend.name };
    weights = io.initialWeights ?? initialWeights(s.config, s.seed);
  }
  const engine = await io.engine(weights);
  let optimizer: Optimizer;
  try {
    // Clipping and AdamW where the engine keeps them (onnxruntime: a second graph), else on the host.
    const options = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: s.weightDecay };
    optimizer = (await engine.optimizer?.(weights, options)) ?? new AdamW(weights, options);
    if (resumeFrom) optimizer.load(readOptimizer(resumeFrom), state.step);
  } catch (error) {
    await engine.dispose();
    throw error;
  }
  const resumedFrom = state.step;
  const parameters = parameterCount(s.config);
  io.log(
    `${parameters.toLocaleString('en-US')} parameters; ${s.maxSteps} steps of ${s.totalBatch} tokens ` +
      `(${accumulation} × ${B}×${T}); backend ${io.backend.name} (${io.backend.detail}), ${engine.description}`,
  );

  const checkpoint = (): Checkpoint => ({
    config: s.config,
    weights,
    optimizer: optimizer.state(),
    state: { ...state, loader: trainLoader.state },
  });
  const sessionStart = performance.now();
  const elapsedAtStart = state.elapsed;
  const elapsed = () => elapsedAtStart + (performance.now() - sessionStart) / 1000;
  let sessionTokens = 0;
  // Where the step in progress started reading: an interrupt inside the step rewinds here.
  let stepStart = trainLoader.state;

  try {
    for (; state.step < s.maxSteps; ) {
      const step = state.step;
      stepStart = trainLoader.state;
      const last = step === s.maxSteps - 1;
      if (valLoader && (step % s.evalInterval === 0 || last)) {
        const valLoss = await evaluateLoss(engine, weights, valLoader, s.evalSteps);
        state.metrics.push({ step, val_loss: valLoss, elapsed: round(elapsed(), 3) });
        io.log(`step ${step}: val loss ${valLoss.toFixed(4)}`);
      }
      if (io.signal.aborted) throw new Interrupted();
      const t0 = performance.now();
      // Every sequence of the step, in loader order; each is weighted 1/(accumulation·B), so the
      // sum is the mean loss over the step's tokens, as build-nanogpt's loss / grad_accum_steps.
      const sequences: Sequence[] = [];
      for (let micro = 0; micro < accumulation; micro++)
        sequences.push(...splitBatch(trainLoader.next(), B, T));
      const { loss, grads, tensors } = await engine.gradients(
        weights,
        sequences,
        1 / sequences.length,
        io.signal,
      );
      const lr = learningRate(step, {
        maxLr: s.maxLr,
        minLr: s.minLr,
        warmup: s.warmupSteps,
        maxSteps: s.maxSteps,
      });
      const gradNorm = await optimizer.update(grads, lr, s.gradClip);
      state.step++;
      sessionTokens += s.totalBatch;
      const seconds = (performance.now() - t0) / 1000;
      const line = {
        step,
        loss,
        lr,
        grad_norm: gradNorm,
        tokens_per_sec: round(s.totalBatch / seconds, 1),
        elapsed: round(elapsed(), 3),
        tensors,
      };
      state.metrics.push(line);
      const rate = sessionTokens / (elapsed() - elapsedAtStart);
      const eta = ((s.maxSteps - state.step) * s.totalBatch) / rate;
      io.progress({
        done: state.step,
        total: s.maxSteps,
        unit: 'steps',
        message: `loss ${loss.toFixed(4)}, ${Math.round(rate)} tok/s, ETA ${formatSeconds(eta)}`,
      });
      if (state.step % s.checkpointInterval === 0 && state.step < s.maxSteps) {
        state.elapsed = elapsed();
        saveResumeCheckpoint(io.resumeDir, checkpoint());
      }
      // Let progress events and Ctrl-C through between steps.
      await new Promise((resolve) => setImmediate(resolve));
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
    await engine.dispose();
    throw error;
  }
  await engine.dispose();

  state.elapsed = elapsed();
  writeCheckpoint(io.outDir, checkpoint());
  const trainLines = state.metrics.filter((m) => 'loss' in m) as { loss: number }[];
  const valLosses = state.metrics.filter((m) => 'val_loss' in m).map((m) => m.val_loss as number);
  const trainedTokens = (s.maxSteps - resumedFrom) * s.totalBatch;
  const summary: TrainSummary = {
    steps: s.maxSteps,
    resumed_from: resumedFrom,
    final_loss: trainLines.at(-1)?.loss ?? Number.NaN,
    best_val_loss: valLosses.length ? Math.min(...valLosses) : null,
    final_val_loss: valLosses.at(-1) ?? null,
    tokens_per_sec: round(trainedTokens / Math.max(1e-9, state.elapsed - elapsedAtStart), 1),
    train_seconds: round(state.elapsed, 3),
    parameters,
    backend: io.backend.name,
    backend_detail: `${io.backend.detail}; ${engine.description}`,
  };
  writeFileSync(
    join(io.outDir, 'metrics.jsonl'),
    state.metrics.map((m) => `${JSON.stringify(m)}\n`).join(''),
  );
  writeFileSync(join(io.outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

/** The B rows of a loader batch as separate sequences. */
function splitBatch(batch: Batch, B: number, T: number): Sequence[] {
  return Array.from({ length: B }, (_, b) => ({
    ids: batch.ids.slice(b * T, (b + 1) * T),
    targets: batch.targets.slice(b * T, (b + 1) * T),
  }));
}

/** Mean loss over `steps` batches from the start of the val split (build-nanogpt's val check). */
export async function evaluateLoss(
  engine: GradientEngine,
  weights: ReadonlyMap<string, NamedTensor>,
  loader: TokenLoader,
  steps: number,
): Promise<number> {
  loader.reset();
  const sequences: Sequence[] = [];
  for (let i = 0; i < steps; i++) sequences.push(...splitBatch(loader.next(), loader.B, loader.T));
  return engine.loss(weights, sequences);
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
