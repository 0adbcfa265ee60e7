// Gradients of the loss over a list of sequences, summed in sequence order. Each sequence is its own
// forward/backward pass (B = 1: on wasm that is also the fastest per token, the attention tensors
// stay in cache), so the work splits across worker threads, one tfjs backend each, and the sum —
// done here, always in sequence order — is bit-for-bit the same whatever the number of workers.
// Weights live in the trainer's host arrays and are loaded into each replica before a step.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { listen, startWorker } from '../lib/workers.ts';
import type { AdamWOptions, Optimizer } from './adamw.ts';
import type { BackendChoice, LoadedBackend } from './backend.ts';
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
interface SequenceGradients {
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
class Accumulator {
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

// ---- worker threads ------------------------------------------------------------------------------

/** Messages to a gradient worker. */
export type WorkerRequest =
  | {
      type: 'init';
      backend: BackendChoice;
      config: GptConfig;
      weights: { shape: number[]; data: Float32Array }[];
    }
  | { type: 'weights'; weights: Float32Array[] }
  | { type: 'gradients'; index: number; ids: Int32Array; targets: Int32Array; scale: number }
  | { type: 'loss'; index: number; ids: Int32Array; targets: Int32Array };

/** Replies from a gradient worker. */
export type WorkerReply =
  | { type: 'ready' }
  | ({ type: 'gradients'; index: number } & SequenceGradients)
  | { type: 'loss'; index: number; loss: number }
  | { type: 'error'; message: string; stack?: string };

/** Number of gradient workers: GPT2O_WORKERS, else one per core. */
export function workerCount(): number {
  const fromEnv = Number(process.env.GPT2O_WORKERS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : availableParallelism();
}

/**
 * The engine for a backend: worker threads for wasm and cpu (single-threaded backends) when there
 * is more than one core (or GPT2O_WORKERS > 1); in process for the tensorflow backends, which
 * use every core (or the GPU) themselves.
 */
export async function startEngine(
  backend: LoadedBackend,
  config: GptConfig,
  weights: ReadonlyMap<string, NamedTensor>,
): Promise<GradientEngine> {
  const count = workerCount();
  if ((backend.name === 'wasm' || backend.name === 'cpu') && count > 1)
    return WorkerGradients.start(count, backend.name, config, weights);
  return new InProcessGradients(backend, config, weights);
}

/** Replicas on worker threads; sequences go to whichever worker is free, sums stay in order. */
export class WorkerGradients implements GradientEngine {
  private constructor(
    private readonly workers: Worker[],
    private readonly config: GptConfig,
    readonly description: string,
  ) {}

  /** Parameter names in the order arrays travel to and from the workers. */
  private get names(): string[] {
    return parameterShapes(this.config).map(([name]) => name);
  }

  static async start(
    count: number,
    backend: BackendChoice,
    config: GptConfig,
    weights: ReadonlyMap<string, NamedTensor>,
  ): Promise<WorkerGradients> {
    const workers = Array.from({ length: count }, () => startWorker(import.meta.url, 'grad-worker'));
    const init: WorkerRequest = {
      type: 'init',
      backend,
      config,
      weights: parameterShapes(config).map(([name]) => weights.get(name)!),
    };
    try {
      await Promise.all(
        workers.map(async (w) => {
          w.postMessage(init);
          await nextReply(w, `${workers.indexOf(w) + 1} of ${count} (starting)`);
        }),
      );
      return new WorkerGradients(workers, config, `${count} worker thread${count === 1 ? '' : 's'}`);
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
  }

  private broadcast(weights: ReadonlyMap<string, NamedTensor>): void {
    const arrays = this.names.map((name) => weights.get(name)!.data);
    for (const w of this.workers) w.postMessage({ type: 'weights', weights: arrays } satisfies WorkerRequest);
  }

  async gradients(
    weights: ReadonlyMap<string, NamedTensor>,
    sequences: Sequence[],
    scale: number,
    signal?: AbortSignal,
  ): Promise<GradientResult> {
    this.broadcast(weights);
    const sum = new Accumulator(this.config);
    // Results may arrive out of order; add them in sequence order.
    const pending = new Map<number, SequenceGradients>();
    let nextToAdd = 0;
    await this.schedule(
      sequences,
      signal,
      (index, ids, targets) => ({ type: 'gradients', index, ids, targets, scale }),
      (reply) => {
        if (reply.type !== 'gradients') return;
        pending.set(reply.index, reply);
        for (let part = pending.get(nextToAdd); part; part = pending.get(nextToAdd)) {
          pending.delete(nextToAdd++);
          sum.add(part);
        }
      },
    );
    return sum.result();
  }

  async loss(weights: ReadonlyMap<string, NamedTensor>, sequences: Sequence[]): Promise<number> {
    this.broadcast(weights);
    const losses = new Float64Array(sequences.length);
    await this.schedule(
      sequences,
      undefined,
      (index, ids, targets) => ({ type: 'loss', index, ids, targets }),
      (reply) => {
        if (reply.type === 'loss') losses[reply.index] = reply.loss;
      },
    );
    return losses.reduce((a, b) => a + b, 0) / sequences.length;
  }

  /** Hands out sequences one at a time to free workers until all have answered. */
  private schedule(
    sequences: Sequence[],
    signal: AbortSignal | undefined,
    request: (index: number, ids: Int32Array, targets: Int32Array) => WorkerRequest,
    onReply: (reply: WorkerReply) => void,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      let next = 0;
      let done = 0;
      let failed = false;
      const cleanups: (() => void)[] = [];
      const finish = (error?: Error) => {
        for (const cleanup of cleanups) cleanup();
        if (error) reject(error);
        else resolve();
      };
      const feed = (w: Worker) => {
        if (failed) return;
        if (signal?.aborted) {
          failed = true;
          // Workers may still be busy; their late replies are ignored (listeners are removed).
          finish(new Interrupted());
          return;
        }
        if (next < sequences.length) {
          const s = sequences[next]!;
          w.postMessage(request(next++, s.ids, s.targets));
        }
      };
      this.workers.forEach((w, k) => {
        const onMessage = (reply: WorkerReply) => {
          if (failed) return;
          if (reply.type === 'error') {
            failed = true;
            finish(Object.assign(new Error(reply.message), { stack: reply.stack }));
            return;
          }
          onReply(reply);
          if (++done === sequences.length) finish();
          else feed(w);
        };
        // An 'error' event or an exit without one (process.exit, a native crash) fails the step.
        const onFailure = (error: Error) => {
          if (failed) return;
          failed = true;
          finish(error);
        };
        cleanups.push(listen(w, `${k + 1} of ${this.workers.length} (gradients)`, onMessage, onFailure));
      });
      if (sequences.length === 0) finish();
      else for (const w of this.workers) feed(w);
    });
  }

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function nextReply(w: Worker, what: string): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const stop = listen<WorkerReply>(
      w,
      what,
      (reply) => {
        stop();
        if (reply.type === 'error') reject(Object.assign(new Error(reply.message), { stack: reply.stack }));
        else resolve(reply);
      },
      reject,
    );
  });
}
