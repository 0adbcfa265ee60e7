import type { AdamWOptions, Optimizer } from './adamw.ts';
import type { LoadedBackend } from './backend.ts';
import type { GptConfig } from './config.ts';
import { Gpt, parameterShapes } from './gpt.ts';
import type { NamedTensor } from './safetensors.ts';

export interface Sequence {
  ids: Int32Array;
  targets: Int32Array;
}

export interface GradientResult {
  /** Σ scale × loss(sequence). */
  loss: number;
  /** Σ scale × ∂loss(sequence)/∂w, by HF parameter name. */
  grads: Map<string, Float32Array>;
  /** Live tfjs tensors of the replica after the pass (the largest over workers): flat if nothing leaks. */
  tensors: number;
}

export interface GradientEngine {
  /** How the work runs, for logs and metrics (e.g. "2 worker threads"). */
  readonly description: string;
  gradients(
    weights: ReadonlyMap<string, NamedTensor>,
    sequences: Sequence[],
    scale: number,
    signal?: AbortSignal,
  ): Promise<GradientResult>;
  /** Mean loss over the sequences (no gradients). */
  loss(weights: ReadonlyMap<string, NamedTensor>, sequences: Sequence[]): Promise<number>;
  /**
   * An optimizer of the engine's own that steps `weights` (clipping and AdamW where the gradients
   * are: onnxruntime's second graph); absent: the trainer's AdamW on host arrays. dispose() ends it.
   */
  optimizer?(weights: ReadonlyMap<string, NamedTensor>, options: AdamWOptions): Promise<Optimizer>;
  dispose(): Promise<void>;
}

export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/** One replica on the calling thread (the tensorflow backends, which thread internally, and tests). */
export class InProcessGradients implements GradientEngine {
  readonly description = 'in process';
  private readonly model: Gpt;

  constructor(backend: LoadedBackend, config: GptConfig, weights: ReadonlyMap<string, NamedTensor>) {
    this.model = new Gpt(backend.tf, config, weights);
  }

  async gradients(
    weights: ReadonlyMap<string, NamedTensor>,
    sequences: Sequence[],
    scale: number,
    signal?: AbortSignal,
  ): Promise<GradientResult> {
    this.model.setWeights(weights);
    const sum = new Accumulator(this.model.config);
    for (const s of sequences) {
      if (signal?.aborted) throw new Interrupted();
      sum.add(sequenceGradients(this.model, s, scale));
      // Let progress events and Ctrl-C through between sequences.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return sum.result();
  }

  async loss(weights: ReadonlyMap<string, NamedTensor>, sequences: Sequence[]): Promise<number> {
    this.model.setWeights(weights);
    let total = 0;
    for (const s of sequences) total += sequenceLoss(this.model, s);
    return total / sequences.length;
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}

/** Loss and gradients of one sequence as host arrays (parameter order), tensors freed. */
export function sequenceGradients(model: Gpt, s: Sequence, scale: number): SequenceGradients {
  const { loss, grads } = model.lossAndGrads(s.ids, s.targets, 1, s.ids.length, scale);
  const arrays = [...model.params.keys()].map((name) => {
    const g = grads.get(name)!;
    const data = g.dataSync() as Float32Array;
    g.dispose();
    return data;
  });
  return { loss, grads: arrays, tensors: model.tf.memory().numTensors };
}

/** One sequence's share of a step, as a worker sends it back (arrays in parameter order). */
export interface SequenceGradients {
  loss: number;
  grads: Float32Array[];
  tensors: number;
}

export function sequenceLoss(model: Gpt, s: Sequence): number {
  const loss = model.tf.tidy(() => model.loss(s.ids, s.targets, 1, s.ids.length));
  const value = loss.dataSync()[0]!;
  loss.dispose();
  return value;
}

/** Sums per-sequence gradients in the order they are added (both engines: one order, one result). */
export class Accumulator {
  private readonly names: string[];
  private readonly sums: Float32Array[];
  private loss = 0;
  private tensors = 0;

  constructor(config: GptConfig) {
    const shapes = parameterShapes(config);
    this.names = shapes.map(([name]) => name);
    this.sums = shapes.map(([, shape]) => new Float32Array(shape.reduce((a, b) => a * b, 1)));
  }

  add(part: SequenceGradients): void {
    this.loss += part.loss;
    this.tensors = Math.max(this.tensors, part.tensors);
    part.grads.forEach((g, k) => {
      const sum = this.sums[k]!;
      for (let i = 0; i < g.length; i++) sum[i]! += g[i]!;
    });
  }

  result(): GradientResult {
    return {
      loss: this.loss,
      grads: new Map(this.names.map((name, k) => [name, this.sums[k]!])),
      tensors: this.tensors,
    };
  }
}
