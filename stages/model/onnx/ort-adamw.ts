// The onnxruntime engine's optimizer: clipping and AdamW as the small graph of adamw-graph.ts, one
// session.run per step. The weights and moments go in as inputs and come back as new arrays,
// which replace the old ones in the trainer's weight map (`NamedTensor.data`), so no JS pass over
// the parameters remains; adamw.ts holds the same step on host arrays, and tests compare the two.
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Device } from '../../lib/device.ts';
import type { AdamWOptions, Optimizer } from '../adamw.ts';
import type { GptConfig } from '../config.ts';
import { parameterShapes } from '../gpt.ts';
import type { NamedTensor } from '../safetensors.ts';
import { adamwNames, buildAdamWGraph } from './adamw-graph.ts';
import { createSession, type Ort } from './ort-session.ts';

export class OrtAdamW implements Optimizer {
  step = 0;
  /** Milliseconds in session.run since the last reset, and the bytes its outputs brought back. */
  readonly times = { run: 0, outputBytes: 0 };
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  private readonly shapes: [string, number[]][];

  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
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
    const bytes = buildAdamWGraph(config, options);
    const session = await createSession(ort, bytes, options.device, options.threads);
    return new OrtAdamW(ort, session, config, params, options);
  }

  async update(grads: ReadonlyMap<string, Float32Array>, lr: number, maxNorm: number): Promise<number> {
    const { ort } = this;
    const { beta1, beta2, weightDecay } = this.options;
    const t = this.step + 1;
    const scalar = (value: number) => new ort.Tensor('float32', Float32Array.of(value), []);
    const feeds: Record<string, Tensor> = {
      max_norm: new ort.Tensor('float64', Float64Array.of(maxNorm), []),
      step_size: scalar(lr / (1 - beta1 ** t)),
      bc2_sqrt: scalar(Math.sqrt(1 - beta2 ** t)),
      decay: scalar(1 - lr * weightDecay),
    };
    for (const [name, shape] of this.shapes) {
      feeds[name] = new ort.Tensor('float32', this.params.get(name)!.data, shape);
      feeds[adamwNames.grad(name)] = new ort.Tensor('float32', grads.get(name)!, shape);
      feeds[adamwNames.expAvg(name)] = new ort.Tensor('float32', this.m.get(name)!, shape);
      feeds[adamwNames.expAvgSq(name)] = new ort.Tensor('float32', this.v.get(name)!, shape);
    }
    const t0 = performance.now();
    const out = await this.session.run(feeds);
    this.times.run += performance.now() - t0;
    const data = (key: string) => out[adamwNames.next(key)]!.data as Float32Array;
    for (const [name] of this.shapes) {
      // NOTE: the new arrays replace the old ones; holders of the weight map see them.
      this.params.get(name)!.data = data(name);
      this.m.set(name, data(adamwNames.expAvg(name)));
      this.v.set(name, data(adamwNames.expAvgSq(name)));
      this.times.outputBytes += 3 * this.m.get(name)!.byteLength;
    }
    this.step = t;
    return (out.grad_norm!.data as Float64Array)[0]!;
  }

  state(): Map<string, NamedTensor> {
    const out = new Map<string, NamedTensor>();
    for (const [name, shape] of this.shapes) {
      out.set(adamwNames.expAvg(name), { shape, data: this.m.get(name)! });
      out.set(adamwNames.expAvgSq(name), { shape, data: this.v.get(name)! });
    }
    return out;
  }

  load(state: ReadonlyMap<string, NamedTensor>, step: number): void {
    for (const [name] of this.shapes)
      for (const [key, moments] of [
        [adamwNames.expAvg(name), this.m],
        [adamwNames.expAvgSq(name), this.v],
      ] as const) {
        const saved = state.get(key);
        if (!saved) throw new Error(`optimizer state has no "${key}"`);
        if (saved.data.length !== moments.get(name)!.length)
          throw new Error(`optimizer state "${key}" has the wrong size`);
        moments.set(name, Float32Array.from(saved.data));
      }
    this.step = step;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
