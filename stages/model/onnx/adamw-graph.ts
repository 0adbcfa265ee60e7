// The optimizer step as a small second ONNX graph (issue 14): global-norm clipping and AdamW, the
// same arithmetic as adamw.ts (torch.optim.AdamW after torch.nn.utils.clip_grad_norm_), with the
// weights and both moments as inputs and their next values as outputs. The step's scalars (the
// learning rate and the bias corrections) are inputs, so one session serves every step.

import type { GptConfig } from '../config.ts';
import { parameterShapes } from '../gpt.ts';
import { Graph } from './graph.ts';

export interface AdamWGraphOptions {
  beta1: number;
  beta2: number;
  eps: number;
}

/** Input and output names, by parameter. */
export const adamwNames = {
  grad: (param: string) => `grad.${param}`,
  expAvg: (param: string) => `exp_avg.${param}`,
  expAvgSq: (param: string) => `exp_avg_sq.${param}`,
  next: (name: string) => `next.${name}`,
};

/**
 * Inputs: every parameter, its summed gradient and its two moments; `max_norm` (float64; 0: no
 * clipping), `step_size` (lr / (1 − β1^t)), `bc2_sqrt` (√(1 − β2^t)) and `decay` (1 − lr·wd, for
 * parameters of two or more dimensions only). Outputs: `next.<name>` for each of those tensors,
 * and `grad_norm` (float64), the global norm before clipping.
 */
export function buildAdamWGraph(c: GptConfig, o: AdamWGraphOptions): Uint8Array {
  const g = new Graph('float32');
  const shapes = parameterShapes(c);
  const maxNorm = g.input('max_norm', 'float64', []);
  const stepSize = g.input('step_size', 'float32', []);
  const bc2Sqrt = g.input('bc2_sqrt', 'float32', []);
  const decay = g.input('decay', 'float32', []);
  const f64 = (value: number) => g.constant([value], [], 'float64');

  // ---- clipping: the norm in float64 as clipByGlobalNorm sums it; coefficient clamped to 1
  const squares = shapes.map(([name, shape]) =>
    g.op('ReduceSumSquare', [g.op('Cast', [g.input(adamwNames.grad(name), 'float32', shape)], { to: 11 })], {
      keepdims: 0,
    }),
  );
  const norm = g.op('Sqrt', [squares.length === 1 ? squares[0]! : g.op('Sum', squares)]);
  g.output('grad_norm', norm, 'float64');
  const coefficient = g.op('Div', [maxNorm, g.op('Add', [norm, f64(1e-6)])]);
  const clips = g.op('And', [g.op('Greater', [maxNorm, f64(0)]), g.op('Less', [coefficient, f64(1)])]);
  const scale = g.op('Cast', [g.op('Where', [clips, coefficient, f64(1)])], { to: 1 }); // float32

  // ---- AdamW per parameter, with every scalar folded first so each element takes 13 ops:
  //   m' = β1·m + ((1−β1)·s)·g        v' = β2·v + ((1−β2)·s²)·g²        (s: the clip scale)
  //   w' = decay·w − m' / (√v'·(1/(√(1−β2^t)·step_size)) + ε/step_size)
  // which is torch's w·decay − step_size·m'/(√v'/√(1−β2^t) + ε) with the division moved.
  const a1 = g.op('Mul', [scale, g.scalar(1 - o.beta1)]);
  const a2 = g.op('Mul', [g.op('Mul', [scale, scale]), g.scalar(1 - o.beta2)]);
  const k = g.op('Reciprocal', [g.op('Mul', [bc2Sqrt, stepSize])]);
  const e = g.op('Div', [g.scalar(o.eps), stepSize]);
  for (const [name, shape] of shapes) {
    const w = g.input(name, 'float32', shape);
    const m = g.input(adamwNames.expAvg(name), 'float32', shape);
    const v = g.input(adamwNames.expAvgSq(name), 'float32', shape);
    const grad = adamwNames.grad(name);
    const m1 = g.op('Add', [g.op('Mul', [m, g.scalar(o.beta1)]), g.op('Mul', [grad, a1])]);
    const v1 = g.op('Add', [
      g.op('Mul', [v, g.scalar(o.beta2)]),
      g.op('Mul', [g.op('Mul', [grad, grad]), a2]),
    ]);
    const denominator = g.op('Add', [g.op('Mul', [g.op('Sqrt', [v1]), k]), e]);
    const update = g.op('Div', [m1, denominator]);
    const decayed = shape.length >= 2 ? g.op('Mul', [w, decay]) : w;
    g.output(adamwNames.next(name), g.op('Sub', [decayed, update]));
    g.output(adamwNames.next(adamwNames.expAvg(name)), m1);
    g.output(adamwNames.next(adamwNames.expAvgSq(name)), v1);
  }
  return g.model('adamw-step');
}
