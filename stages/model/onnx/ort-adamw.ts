// The onnxruntime engine's optimizer: the global norm in one run of the norm graph, then AdamW in
// one run of the AdamW graph per parameter tensor (adamw-graph.ts). Each run's outputs are
// pre-allocated onto the very arrays it reads (the trainer's weights, the moments), so the update
// happens in place: no JS pass over the parameters, and no second copy of them alive at once
// (one graph over all tensors, with fresh outputs, peaked 2.5 GiB higher on the original model).
// adamw.ts holds the same step on host arrays, and tests compare the two.
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Device } from '../../lib/device.ts';
import type { AdamWOptions, Optimizer } from '../adamw.ts';
import type { GptConfig } from '../config.ts';
import { parameterShapes } from '../gpt.ts';
import type { NamedTensor } from '../safetensors.ts';
import { buildAdamWGraph, buildGradNormGraph } from './adamw-graph.ts';
import { createSession, type Ort } from './ort-session.ts';

export class OrtAdamW implements Optimizer {
  step = 0;
  /** Milliseconds in session.run since the last reset, and the bytes its results copied into JS. */
  readonly times = { run: 0, outputBytes: 0 };
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  private readonly shapes: [string, number[]][];

  private constructor(
    private readonly ort: Ort,
    private readonly sessions: { norm: InferenceSession; adamw: InferenceSession },
    config: GptConfig,
    private readonly params: ReadonlyMap<string, NamedTensor>,
    private readonly options: AdamWOptions,
  ) {
    this.shapes = parameterShapes(config);
    for (const [name, shape] of this.shapes) {
      const size = shape.reduce((a, b) => a * b, 1);
      this.m.set(name, new Float32Array(size));
      this.v.set(name, new Float32Array(size));
    }
  }

  static async start(
    ort: Ort,
    config: GptConfig,
    params: ReadonlyMap<string, NamedTensor>,
    options: AdamWOptions & { device: Device; threads: number },
  ): Promise<OrtAdamW> {
    const { device, threads } = options;
    const norm = await createSession(ort, buildGradNormGraph(config), device, threads, true, false);
    const adamw = await createSession(ort, buildAdamWGraph(options), device, threads, true, false);
    return new OrtAdamW(ort, { norm, adamw }, config, params, options);
  }

  async update(grads: ReadonlyMap<string, Float32Array>, lr: number, maxNorm: number): Promise<number> {
    const { ort, shapes } = this;
    const { beta1, beta2, eps, weightDecay } = this.options;
    const tensor = (data: Float32Array, shape: number[]) => new ort.Tensor('float32', data, shape);
    const t0 = performance.now();
    const normFeeds: Record<string, Tensor> = {};
    for (const [name, shape] of shapes) normFeeds[`grad.${name}`] = tensor(grads.get(name)!, shape);
    const norm = ((await this.sessions.norm.run(normFeeds)).grad_norm!.data as Float64Array)[0]!;
    // torch's clip_grad_norm_: coefficient maxNorm / (norm + 1e-6), applied when below 1.
    const coefficient = maxNorm / (norm + 1e-6);
    const s = maxNorm > 0 && coefficient < 1 ? coefficient : 1;
    const t = this.step + 1;
    const stepSize = lr / (1 - beta1 ** t);
    const scalar = (value: number) => new ort.Tensor('float32', Float32Array.of(value), []);
    const common = {
      a1: scalar((1 - beta1) * s),
      a2: scalar((1 - beta2) * s * s),
      k: scalar(1 / (Math.sqrt(1 - beta2 ** t) * stepSize)),
      e: scalar(eps / stepSize),
    };
    const decayed = scalar(1 - lr * weightDecay);
    const kept = scalar(1);
    for (const [name, shape] of shapes) {
      const w = tensor(this.params.get(name)!.data, shape);
      const m = tensor(this.m.get(name)!, shape);
      const v = tensor(this.v.get(name)!, shape);
      const decay = shape.length >= 2 ? decayed : kept;
      const feeds = { ...common, decay, w, grad: tensor(grads.get(name)!, shape), m, v };
      // NOTE: in place: each output is written over the array its input came from. Safe for these
      // chains: every read of w, m and v comes before the op that writes its output.
      const out = await this.sessions.adamw.run(feeds, {
        next_w: w,
        next_m: m,
        next_v: v,
      });
      for (const key of ['next_w', 'next_m', 'next_v'])
        this.times.outputBytes += (out[key]!.data as Float32Array).byteLength;
    }
    this.times.run += performance.now() - t0;
    this.step = t;
    return norm;
  }

  state(): Map<string, NamedTensor> {
    const out = new Map<string, NamedTensor>();
    for (const [name, shape] of this.shapes) {
      out.set(`exp_avg.${name}`, { shape, data: this.m.get(name)! });
      out.set(`exp_avg_sq.${name}`, { shape, data: this.v.get(name)! });
    }
    return out;
  }

  load(state: ReadonlyMap<string, NamedTensor>, step: number): void {
    for (const [name] of this.shapes)
      for (const [key, moments] of [
        [`exp_avg.${name}`, this.m],
        [`exp_avg_sq.${name}`, this.v],
      ] as const) {
        const saved = state.get(key);
        if (!saved) throw new Error(`optimizer state has no "${key}"`);
        if (saved.data.length !== moments.get(name)!.length)
          throw new Error(`optimizer state "${key}" has the wrong size`);
        moments.get(name)!.set(saved.data);
      }
    this.step = step;
  }

  async dispose(): Promise<void> {
    await this.sessions.norm.release();
    await this.sessions.adamw.release();
  }
}
