// The forward ops GPT-2's graphs share: the training step's (gpt-graph.ts, which keeps what its
// backward pass needs) and the KV-cache decoder's (kv-graph.ts). Same ops, same order, as gpt.ts.
import type { Graph } from './graph.ts';

export const GELU_K = Math.sqrt(2 / Math.PI);
const LN_EPS = 1e-5;

export interface LayerNormSaved {
  y: string;
  xhat: string;
  rstd: string;
  g: string;
}

/** x [..., in] @ w [in, out] + b (HF Conv1D layout). */
export function linear(g: Graph, x: string, prefix: string): string {
  return g.op('Add', [g.op('MatMul', [x, `${prefix}.weight`]), `${prefix}.bias`]);
}

/** LayerNorm over the last axis, as tf.moments + rsqrt in ops.ts. */
export function layerNorm(g: Graph, x: string, prefix: string): LayerNormSaved {
  const mean = g.op('ReduceMean', [x], { axes: [-1], keepdims: 1 });
  const xc = g.op('Sub', [x, mean]);
  const variance = g.op('ReduceMean', [g.op('Mul', [xc, xc])], { axes: [-1], keepdims: 1 });
  const rstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(LN_EPS)])])]);
  const xhat = g.op('Mul', [xc, rstd]);
  const y = g.op('Add', [g.op('Mul', [xhat, `${prefix}.weight`]), `${prefix}.bias`]);
  return { y, xhat, rstd, g: `${prefix}.weight` };
}

/** t = tanh(k·(x + 0.044715x³)), GELU's inner tanh (kept for the backward). */
export function geluTanh(g: Graph, x: string): string {
  const x3 = g.op('Mul', [g.op('Mul', [x, x]), x]);
  const inner = g.op('Add', [x, g.op('Mul', [x3, g.scalar(0.044715)])]);
  return g.op('Tanh', [g.op('Mul', [inner, g.scalar(GELU_K)])]);
}

/** GELU (tanh form) from its inner tanh t: ½x(1 + t). */
export function geluFrom(g: Graph, x: string, t: string): string {
  return g.op('Mul', [g.op('Mul', [x, g.scalar(0.5)]), g.op('Add', [t, g.scalar(1)])]);
}
