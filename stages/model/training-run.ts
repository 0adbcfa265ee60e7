// One training session of the loop in trainer.ts: each optimizer step (with its val check and
// resume checkpoint), the save after an interrupt, and the final checkpoint with the summary.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatEta } from '../../src/stage-api/index.ts';
import { learningRate, type Optimizer } from './adamw.ts';
import { type Checkpoint, saveResumeCheckpoint, type TrainerState, writeCheckpoint } from './checkpoint.ts';
import { parameterCount } from './config.ts';
import { type GradientEngine, Interrupted, type Sequence } from './gradients.ts';
import type { Batch, TokenLoader } from './loader.ts';
import type { NamedTensor } from './safetensors.ts';
import type { TrainIo, TrainSettings, TrainSummary } from './trainer.ts';

/** One training session: the steps it takes, its checkpoints, and its summary at the end. */
export class TrainingRun {
  readonly state: TrainerState;
  readonly parameters: number;
  /** Micro-batches per step. */
  readonly accumulation: number;
  private readonly weights: Map<string, NamedTensor>;
  private readonly trainLoader: TokenLoader;
  private readonly valLoader: TokenLoader | undefined;
  private readonly optimizer: Optimizer;
  private readonly engine: GradientEngine;
  private readonly resumedFrom: number;
  private readonly sessionStart = performance.now();
  private readonly elapsedAtStart: number;
  private sessionTokens = 0;
  /** Where the step in progress started reading: an interrupt inside the step rewinds here. */
  private stepStart: TokenLoader['state'];

  constructor(
    private readonly s: TrainSettings,
    private readonly io: TrainIo,
    parts: {
      state: TrainerState;
      weights: Map<string, NamedTensor>;
      trainLoader: TokenLoader;
      valLoader?: TokenLoader;
      optimizer: Optimizer;
      engine: GradientEngine;
    },
  ) {
    this.state = parts.state;
    this.weights = parts.weights;
    this.trainLoader = parts.trainLoader;
    this.valLoader = parts.valLoader;
    this.optimizer = parts.optimizer;
    this.engine = parts.engine;
    this.resumedFrom = this.state.step;
    this.elapsedAtStart = this.state.elapsed;
    this.stepStart = this.trainLoader.state;
    this.parameters = parameterCount(s.config);
    this.accumulation = s.totalBatch / (s.microBatch * s.contextLength);
  }

  /** Seconds trained, over every session of this stage key. */
  private elapsed(): number {
    return this.elapsedAtStart + (performance.now() - this.sessionStart) / 1000;
  }

  private checkpoint(): Checkpoint {
    const { s, weights, optimizer, state, trainLoader } = this;
    return {
      config: s.config,
      weights,
      optimizer: optimizer.state(),
      state: { ...state, loader: trainLoader.state },
    };
  }

  /** One optimizer step (after a val check when one is due), then a resume checkpoint when due. */
  async step(): Promise<void> {
    const { s, io, state } = this;
    const step = state.step;
    this.stepStart = this.trainLoader.state;
    if (this.valLoader && (step % s.evalInterval === 0 || step === s.maxSteps - 1)) {
      const valLoss = await evaluateLoss(this.engine, this.weights, this.valLoader, s.evalSteps);
      state.metrics.push({ step, val_loss: valLoss, elapsed: round(this.elapsed(), 3) });
      io.log(`step ${step}: val loss ${valLoss.toFixed(4)}`);
    }
    if (io.signal.aborted) throw new Interrupted();
    const t0 = performance.now();
    // Every sequence of the step, in loader order; each is weighted 1/(accumulation·B), so the
    // sum is the mean loss over the step's tokens, as build-nanogpt's loss / grad_accum_steps.
    const sequences: Sequence[] = [];
    for (let micro = 0; micro < this.accumulation; micro++)
      sequences.push(...splitBatch(this.trainLoader.next(), s.microBatch, s.contextLength));
    const { loss, grads, tensors } = await this.engine.gradients(
      this.weights,
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
    const gradNorm = await this.optimizer.update(grads, lr, s.gradClip);
    state.step++;
    this.sessionTokens += s.totalBatch;
    const seconds = (performance.now() - t0) / 1000;
    const tokensPerSec = round(s.totalBatch / seconds, 1);
    state.metrics.push({
      step,
      loss,
      lr,
      grad_norm: gradNorm,
      tokens_per_sec: tokensPerSec,
      elapsed: round(this.elapsed(), 3),
      tensors,
    });
    this.reportProgress(loss);
    if (state.step % s.checkpointInterval === 0 && state.step < s.maxSteps) {
      state.elapsed = this.elapsed();
      saveResumeCheckpoint(io.resumeDir, this.checkpoint());
    }
  }

  private reportProgress(loss: number): void {
    const { s, state } = this;
    const rate = this.sessionTokens / (this.elapsed() - this.elapsedAtStart);
    const eta = ((s.maxSteps - state.step) * s.totalBatch) / rate;
    this.io.progress({
      done: state.step,
      total: s.maxSteps,
      unit: 'steps',
      message: `loss ${loss.toFixed(4)}, ${Math.round(rate)} tok/s, ETA ${formatEta(eta)}`,
    });
  }

  /**
   * After an interrupt: save whole steps only. The resumed run redoes the unfinished step from its
   * first batch (and its val check), as an uninterrupted run would, without a second val line for it.
   */
  saveWholeSteps(): void {
    const { state } = this;
    state.elapsed = this.elapsed();
    this.trainLoader.seek(this.stepStart);
    state.metrics = state.metrics.filter((m) => (m.step as number) < state.step);
    if (state.step > this.resumedFrom) saveResumeCheckpoint(this.io.resumeDir, this.checkpoint());
  }

  /** Writes the final checkpoint, metrics.jsonl and summary.json; returns the summary. */
  finish(): TrainSummary {
    const { s, io, state } = this;
    state.elapsed = this.elapsed();
    writeCheckpoint(io.outDir, this.checkpoint());
    const trainLines = state.metrics.filter((m) => 'loss' in m) as { loss: number }[];
    const valLosses = state.metrics.filter((m) => 'val_loss' in m).map((m) => m.val_loss as number);
    const trainedTokens = (s.maxSteps - this.resumedFrom) * s.totalBatch;
    const summary: TrainSummary = {
      steps: s.maxSteps,
      resumed_from: this.resumedFrom,
      final_loss: trainLines.at(-1)?.loss ?? Number.NaN,
      best_val_loss: valLosses.length ? Math.min(...valLosses) : null,
      final_val_loss: valLosses.at(-1) ?? null,
      tokens_per_sec: round(trainedTokens / Math.max(1e-9, state.elapsed - this.elapsedAtStart), 1),
      train_seconds: round(state.elapsed, 3),
      parameters: this.parameters,
      backend: io.backend.name,
      backend_detail: `${io.backend.detail}; ${this.engine.description}`,
    };
    writeFileSync(
      join(io.outDir, 'metrics.jsonl'),
      state.metrics.map((m) => `${JSON.stringify(m)}\n`).join(''),
    );
    writeFileSync(join(io.outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    return summary;
  }
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
