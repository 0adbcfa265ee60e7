// The gradient engine on ONNX Runtime (`train.backend: onnxruntime`): the step graph of
// gpt-graph.ts in one InferenceSession per sequence length, fed a micro-batch of sequences per run,
// the micro-batches of a step summed in the graph (its `acc.*` inputs). It serves the trainer
// through the same GradientEngine contract as the tfjs replicas, and gives it an optimizer that
// clips and steps AdamW in a second graph (ort-adamw.ts); schedule, data order and checkpoints stay
// the trainer's.
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { AdamWOptions } from '../adamw.ts';
import type { Device } from '../backend.ts';
import type { GptConfig } from '../config.ts';
import { parameterShapes } from '../gpt.ts';
import { type GradientEngine, type GradientResult, Interrupted, type Sequence } from '../gradients.ts';
import type { NamedTensor } from '../safetensors.ts';
import { accName, buildGptGraph, gradName } from './gpt-graph.ts';
import { OrtAdamW } from './ort-adamw.ts';
import { createSession, loadOrt, type Ort, ortThreads } from './ort-session.ts';

export interface OrtEngineOptions {
  device: Device;
  /** Sequences per graph run (the trainer's micro_batch). */
  microBatch: number;
  /** ORT's intra-op threads: the stage's ctx.threads (GPT2O_THREADS), else one per core. */
  threads?: number;
}

/** Where a step's time went, summed over runs since the last reset (milliseconds, bytes). */
export interface StepTimes {
  /** Building the input tensors (token ids; weights are wrapped, not copied). */
  feeds: number;
  /** session.run of the step graph. */
  run: number;
  /** Reading the loss and keeping the summed gradients (JS). */
  accumulate: number;
  /** Bytes of gradient outputs onnxruntime-node copied back into JS arrays. */
  outputBytes: number;
}

export class OrtGradients implements GradientEngine {
  readonly description: string;
  readonly times: StepTimes = { feeds: 0, run: 0, accumulate: 0, outputBytes: 0 };
  /** The optimizer graph's session, once the trainer asked for it. */
  adamw?: OrtAdamW;
  private readonly train = new Map<number, Promise<InferenceSession>>();
  private readonly eval = new Map<number, Promise<InferenceSession>>();
  private readonly shapes: [string, number[]][];

  private constructor(
    private readonly ort: Ort,
    private readonly config: GptConfig,
    private readonly options: OrtEngineOptions & { threads: number },
  ) {
    this.shapes = parameterShapes(config);
    this.description = `onnxruntime ${ort.env.versions.common} ${options.device}, ${options.threads} thread${options.threads === 1 ? '' : 's'}, ${options.microBatch} sequence${options.microBatch === 1 ? '' : 's'} per run`;
  }

  static async start(config: GptConfig, options: OrtEngineOptions): Promise<OrtGradients> {
    const ort = await loadOrt(options.device);
    const threads = ortThreads(options.threads);
    const engine = new OrtGradients(ort, config, { ...options, threads });
    // Build the training graph now, so a CUDA provider that cannot start fails before step 0.
    await engine.session(engine.train, config.blockSize, true);
    return engine;
  }

  /** One session per (graph kind, sequence length), built on first use. */
  private session(
    cache: Map<number, Promise<InferenceSession>>,
    T: number,
    backward: boolean,
  ): Promise<InferenceSession> {
    let session = cache.get(T);
    if (!session) {
      const bytes = buildGptGraph(this.config, { T, backward, accumulate: backward });
      session = createSession(this.ort, bytes, this.options.device, this.options.threads);
      cache.set(T, session);
    }
    return session;
  }

  private feeds(sequences: Sequence[], weights: ReadonlyMap<string, NamedTensor>): Record<string, Tensor> {
    const { ort } = this;
    const B = sequences.length;
    const T = sequences[0]!.ids.length;
    const ids = new BigInt64Array(B * T);
    const targets = new BigInt64Array(B * T);
    sequences.forEach((s, b) => {
      for (let t = 0; t < T; t++) {
        ids[b * T + t] = BigInt(s.ids[t]!);
        targets[b * T + t] = BigInt(s.targets[t]!);
      }
    });
    const feeds: Record<string, Tensor> = {
      ids: new ort.Tensor('int64', ids, [B, T]),
      targets: new ort.Tensor('int64', targets, [B, T]),
    };
    for (const [name, shape] of this.shapes)
      feeds[name] = new ort.Tensor('float32', weights.get(name)!.data, shape);
    return feeds;
  }

  async gradients(
    weights: ReadonlyMap<string, NamedTensor>,
    sequences: Sequence[],
    scale: number,
    signal?: AbortSignal,
  ): Promise<GradientResult> {
    const zero = new this.ort.Tensor('float32', Float32Array.of(0), []);
    let loss = 0;
    let sums: Float32Array[] | undefined;
    for (const chunk of chunks(sequences, this.options.microBatch)) {
      if (signal?.aborted) throw new Interrupted();
      const T = chunk[0]!.ids.length;
      const session = await this.session(this.train, T, true);
      let t0 = performance.now();
      const feeds = this.feeds(chunk, weights);
      // Per-token gradients scaled so the chunk adds Σ_sequences scale × ∂(mean loss of the sequence).
      feeds.grad_scale = new this.ort.Tensor('float32', Float32Array.of(scale / T), []);
      // The sums so far (a scalar 0 before the first chunk): the graph adds this chunk's gradients.
      this.shapes.forEach(([name, shape], k) => {
        feeds[accName(name)] = sums ? new this.ort.Tensor('float32', sums[k]!, shape) : zero;
      });
      this.times.feeds += performance.now() - t0;
      t0 = performance.now();
      const out = await session.run(feeds);
      this.times.run += performance.now() - t0;
      t0 = performance.now();
      loss += scale * chunk.length * (out.loss!.data as Float32Array)[0]!;
      sums = this.shapes.map(([name]) => out[gradName(name)]!.data as Float32Array);
      for (const g of sums) this.times.outputBytes += g.byteLength;
      this.times.accumulate += performance.now() - t0;
    }
    sums ??= this.shapes.map(([, shape]) => new Float32Array(shape.reduce((a, b) => a * b, 1)));
    return { loss, grads: new Map(this.shapes.map(([name], k) => [name, sums![k]!])), tensors: 0 };
  }

  /** Clipping and AdamW as a second graph on the same device, updating `weights` (ort-adamw.ts). */
  async optimizer(weights: ReadonlyMap<string, NamedTensor>, options: AdamWOptions): Promise<OrtAdamW> {
    await this.adamw?.dispose();
    this.adamw = await OrtAdamW.start(this.ort, this.config, weights, {
      ...options,
      device: this.options.device,
      threads: this.options.threads,
    });
    return this.adamw;
  }

  async loss(weights: ReadonlyMap<string, NamedTensor>, sequences: Sequence[]): Promise<number> {
    let total = 0;
    for (const chunk of chunks(sequences, this.options.microBatch)) {
      const session = await this.session(this.eval, chunk[0]!.ids.length, false);
      const out = await session.run(this.feeds(chunk, weights));
      total += chunk.length * (out.loss!.data as Float32Array)[0]!;
    }
    return total / sequences.length;
  }

  async dispose(): Promise<void> {
    await this.adamw?.dispose();
    this.adamw = undefined;
    for (const cache of [this.train, this.eval]) {
      for (const session of cache.values()) await (await session.catch(() => undefined))?.release();
      cache.clear();
    }
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
