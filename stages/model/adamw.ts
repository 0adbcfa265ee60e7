// AdamW exactly as torch.optim.AdamW applies it (decoupled weight decay first, then the Adam step
// with bias correction), plus gradient clipping by global norm as torch.nn.utils.clip_grad_norm_.
// Weight decay applies to parameters of two or more dimensions only (build-nanogpt's groups).
// This one works on host arrays (the trainer's master weights), for the tfjs engines: the update is
// a few passes over the parameters, and keeping it on the host lets gradient workers own the
// tensors. The onnxruntime engine runs the same step as a graph (onnx/ort-adamw.ts).
import type { NamedTensor } from './safetensors.ts';

/** What the trainer steps the weights with: this class, or the same step as an ONNX graph. */
export interface Optimizer {
  /** Steps taken. */
  readonly step: number;
  /**
   * Clips `grads` to global norm `maxNorm` (0: no clipping), then takes one AdamW step with
   * learning rate `lr`, updating the weights it was made with; returns the norm before clipping.
   * `grads` may be used up.
   */
  update(grads: ReadonlyMap<string, Float32Array>, lr: number, maxNorm: number): Promise<number>;
  /** Moments under "exp_avg.NAME" / "exp_avg_sq.NAME" (torch's state names), for safetensors. */
  state(): Map<string, NamedTensor>;
  load(state: ReadonlyMap<string, NamedTensor>, step: number): void;
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export class AdamW implements Optimizer {
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  /** Steps taken (torch's `step` per parameter; the same for all here). */
  step = 0;

  constructor(
    private readonly params: ReadonlyMap<string, NamedTensor>,
    private readonly options: AdamWOptions,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, new Float32Array(p.data.length));
      this.v.set(name, new Float32Array(p.data.length));
    }
  }

  async update(grads: ReadonlyMap<string, Float32Array>, lr: number, maxNorm: number): Promise<number> {
    const norm = clipByGlobalNorm(grads, maxNorm);
    this.apply(grads, lr);
    return norm;
  }

  /** Updates the parameters in place with learning rate `lr`. */
  apply(grads: ReadonlyMap<string, Float32Array>, lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.options;
    this.step++;
    const bc1 = 1 - beta1 ** this.step;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.step);
    const stepSize = lr / bc1;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      const w = p.data;
      const decay = p.shape.length >= 2 ? 1 - lr * weightDecay : 1;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i]!;
        m[i] = beta1 * m[i]! + (1 - beta1) * gi;
        v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
        w[i] = w[i]! * decay - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / bc2Sqrt + eps);
      }
    }
  }

  state(): Map<string, NamedTensor> {
    const out = new Map<string, NamedTensor>();
    for (const [prefix, moments] of [
      ['exp_avg', this.m],
      ['exp_avg_sq', this.v],
    ] as const)
      for (const [name, data] of moments)
        out.set(`${prefix}.${name}`, { shape: this.params.get(name)!.shape, data });
    return out;
  }

  load(state: ReadonlyMap<string, NamedTensor>, step: number): void {
    for (const [prefix, moments] of [
      ['exp_avg', this.m],
      ['exp_avg_sq', this.v],
    ] as const) {
      for (const [name, data] of moments) {
        const saved = state.get(`${prefix}.${name}`);
        if (!saved) throw new Error(`optimizer state has no "${prefix}.${name}"`);
        if (saved.data.length !== data.length)
          throw new Error(`optimizer state "${prefix}.${name}" has the wrong size`);
        data.set(saved.data);
      }
    }
    this.step = step;
  }
}

/**
 * Scales `grads` in place so their global L2 norm is at most `maxNorm` (torch: coefficient
 * maxNorm / (norm + 1e-6), clamped to 1; maxNorm 0 turns clipping off). Returns the norm before.
 */
export function clipByGlobalNorm(grads: ReadonlyMap<string, Float32Array>, maxNorm: number): number {
  let sum = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) sum += g[i]! * g[i]!;
  const norm = Math.sqrt(sum);
  const coefficient = maxNorm / (norm + 1e-6);
  if (maxNorm > 0 && coefficient < 1)
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i]! *= coefficient;
  return norm;
}

/** build-nanogpt's get_lr: linear warmup over `warmup` steps, then cosine decay to minLr at maxSteps. */
export function learningRate(
  step: number,
  s: { maxLr: number; minLr: number; warmup: number; maxSteps: number },
): number {
  if (step < s.warmup) return (s.maxLr * (step + 1)) / s.warmup;
  if (step >= s.maxSteps) return s.minLr;
  const ratio = (step - s.warmup) / Math.max(1, s.maxSteps - s.warmup);
  return s.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (s.maxLr - s.minLr);
}
