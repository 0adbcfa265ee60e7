// AdamW exactly as torch.optim.AdamW applies it (decoupled weight decay first, then the Adam step
// with bias correction), plus gradient clipping by global norm as torch.nn.utils.clip_grad_norm_.
// Weight decay applies to parameters of two or more dimensions only (build-nanogpt's groups).

import type { Tensor, Variable } from '@tensorflow/tfjs';
import type { Tf } from './backend.ts';
import type { NamedTensor as HostTensor } from './safetensors.ts';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export class AdamW {
  private readonly m = new Map<string, Variable>();
  private readonly v = new Map<string, Variable>();
  /** Steps taken (torch's `step` per parameter; the same for all here). */
  step = 0;

  constructor(
    private readonly tf: Tf,
    private readonly params: ReadonlyMap<string, Variable>,
    private readonly options: AdamWOptions,
  ) {
    for (const [name, p] of params) {
      // tidy frees the zeros tensor: a variable shares its data, so a tensor left alive would keep
      // the moments allocated after dispose().
      const zeros = () => tf.tidy(() => tf.variable(tf.zerosLike(p), false));
      this.m.set(name, zeros());
      this.v.set(name, zeros());
    }
  }

  /** Applies one update with learning rate `lr`; `grads` are consumed (disposed). */
  apply(grads: ReadonlyMap<string, Tensor>, lr: number): void {
    const { tf, options } = this;
    this.step++;
    const bc1 = 1 - options.beta1 ** this.step;
    const bc2 = 1 - options.beta2 ** this.step;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      tf.tidy(() => {
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, options.beta1), tf.mul(g, 1 - options.beta1)));
        v.assign(tf.add(tf.mul(v, options.beta2), tf.mul(tf.square(g), 1 - options.beta2)));
        const decayed = p.shape.length >= 2 ? tf.mul(p, 1 - lr * options.weightDecay) : p;
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), options.eps);
        p.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1)));
      });
      g.dispose();
    }
  }

  /** Moments under "exp_avg.NAME" / "exp_avg_sq.NAME" (torch's state names), for safetensors. */
  state(): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const [name, m] of this.m)
      out.set(`exp_avg.${name}`, { shape: m.shape, data: m.dataSync() as Float32Array });
    for (const [name, v] of this.v)
      out.set(`exp_avg_sq.${name}`, { shape: v.shape, data: v.dataSync() as Float32Array });
    return out;
  }

  load(state: ReadonlyMap<string, HostTensor>, step: number): void {
    for (const [prefix, moments] of [
      ['exp_avg', this.m],
      ['exp_avg_sq', this.v],
    ] as const) {
      for (const [name, variable] of moments) {
        const saved = state.get(`${prefix}.${name}`);
        if (!saved) throw new Error(`optimizer state has no "${prefix}.${name}"`);
        this.tf.tidy(() => variable.assign(this.tf.tensor(saved.data, variable.shape)));
      }
    }
    this.step = step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/**
 * Scales `grads` in place so their global L2 norm is at most `maxNorm` (torch: coefficient
 * maxNorm / (norm + 1e-6), clamped to 1). Returns the norm before clipping.
 */
export function clipByGlobalNorm(tf: Tf, grads: Map<string, Tensor>, maxNorm: number): number {
  const total = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))));
  const norm = total.dataSync()[0]!;
  total.dispose();
  const coefficient = maxNorm / (norm + 1e-6);
  if (maxNorm > 0 && coefficient < 1) {
    for (const [name, g] of grads) {
      grads.set(name, tf.mul(g, coefficient));
      g.dispose();
    }
  }
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
