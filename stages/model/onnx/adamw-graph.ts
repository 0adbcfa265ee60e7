// The optimizer step as two small ONNX graphs (issue 14: clipping and AdamW in a second graph),
// the same arithmetic as adamw.ts (torch.optim.AdamW after torch.nn.utils.clip_grad_norm_):
// - the norm graph: every summed gradient in, their global L2 norm out (float64, as the host sums);
// - the AdamW graph: one parameter tensor, its gradient and its two moments in (any shape), their
//   next values out. ort-adamw.ts runs it once per tensor with the outputs written over the inputs'
//   own arrays, so a step holds no second copy of the weights or moments.
import type { GptConfig } from '../config.ts';
import { parameterShapes } from '../gpt.ts';
import { Graph } from './graph.ts';

export interface AdamWGraphOptions {
  beta1: number;
  beta2: number;
}

/** Inputs: `grad.<name>` for every parameter. Output: `grad_norm` (float64). */
export function buildGradNormGraph(c: GptConfig): Uint8Array {
  const g = new Graph('float32');
  const squares = parameterShapes(c).map(([name, shape]) =>
    g.op('ReduceSumSquare', [g.op('Cast', [g.input(`grad.${name}`, 'float32', shape)], { to: 11 })], {
      keepdims: 0,
    }),
  );
  const sum = squares.length === 1 ? squares[0]! : g.op('Sum', squares);
  g.output('grad_norm', g.op('Sqrt', [sum]), 'float64');
  return g.model('grad-norm');
}

/**
 * Inputs: `w`, `grad`, `m`, `v` (one tensor's, any shape) and the step's float32 scalars, folded on
 * the host so each element takes 13 ops:
 *   m' = β1·m + a1·g         a1 = (1−β1)·s              (s: the clip coefficient, 1 when unclipped)
 *   v' = β2·v + a2·g²        a2 = (1−β2)·s²
 *   w' = decay·w − m' / (√v'·k + e)     k = 1/(√(1−β2^t)·step_size), e = ε/step_size
 * which is torch's w·decay − step_size·m'/(√v'/√(1−β2^t) + ε) with the division moved (decay:
 * 1 − lr·wd on tensors of two or more dimensions, else 1). Outputs: `next_w`, `next_m`, `next_v`.
 */
export function buildAdamWGraph(o: AdamWGraphOptions): Uint8Array {
  const g = new Graph('float32');
  const [w, grad, m, v] = ['w', 'grad', 'm', 'v'].map((name) => g.input(name, 'float32', undefined));
  const [a1, a2, k, e, decay] = ['a1', 'a2', 'k', 'e', 'decay'].map((name) => g.input(name, 'float32', []));
  const m1 = g.op('Add', [g.op('Mul', [m!, g.scalar(o.beta1)]), g.op('Mul', [grad!, a1!])]);
  const v1 = g.op('Add', [
    g.op('Mul', [v!, g.scalar(o.beta2)]),
    g.op('Mul', [g.op('Mul', [grad!, grad!]), a2!]),
  ]);
  const denominator = g.op('Add', [g.op('Mul', [g.op('Sqrt', [v1]), k!]), e!]);
  g.output('next_w', g.op('Sub', [g.op('Mul', [w!, decay!]), g.op('Div', [m1, denominator])]));
  g.output('next_m', m1);
  g.output('next_v', v1);
  return g.model('adamw-step');
}
