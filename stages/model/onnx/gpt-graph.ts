// GPT-2's training step as one ONNX graph: the forward pass of gpt.ts (same ops, same order), the
// mean cross-entropy, and the backward pass written by hand per op — the gradients of ops.ts and
// of llm.c's train_gpt2.c (layernorm_backward, gelu_backward, attention_backward, …), here as
// standard operators. Activations are [N, C] with N = B·T between blocks; attention is batched
// [B, nh, T, hs]. The batch is a symbolic dimension; T is fixed per graph (the causal mask).
//
// Inputs: ids, targets [B, T] int64; grad_scale (a scalar: the gradients are those of
// grad_scale × Σ token losses); every parameter under its HF name. Outputs: loss (the mean over
// the B·T tokens) and grad.<name> for every parameter; the forward-only variant (evaluation) has no
// grad_scale input and outputs loss and token_losses [B, T] instead.
import type { GptConfig } from '../config.ts';
import { parameterShapes } from '../gpt.ts';
import { GELU_K, geluFrom, geluTanh, type LayerNormSaved, layerNorm, linear } from './forward-ops.ts';
import { Graph } from './graph.ts';

/** Deliberate bugs in the backward pass, for showing that the gradient check catches them. */
export type BackwardMutation = 'gelu-sign' | 'layernorm-mean' | 'attention-mask' | 'softmax-sum';

export interface GptGraphOptions {
  /** Tokens per sequence (≤ blockSize). */
  T: number;
  float?: 'float32' | 'float64';
  /** false: loss only (evaluation). */
  backward?: boolean;
  /** How the token embedding's gradient is summed: ScatterElements(add) or a one-hot product. */
  embeddingGrad?: 'scatter' | 'onehot';
  mutation?: BackwardMutation;
  /**
   * Gradient accumulation in the graph: each gradient output is input `acc.<param>` plus this
   * run's gradient. `acc.*` take any shape that broadcasts, so the first micro-batch of a step
   * feeds a scalar 0 and the next ones feed the previous run's outputs.
   */
  accumulate?: boolean;
}

/** Names of the accumulator inputs, by parameter. */
export const accName = (param: string) => `acc.${param}`;

/** Names of the gradient outputs, by parameter. */
export const gradName = (param: string) => `grad.${param}`;

/** The ModelProto bytes of the step graph. */
export function buildGptGraph(c: GptConfig, o: GptGraphOptions): Uint8Array {
  return new GptGraph(c, o).build();
}

class GptGraph {
  private readonly g: Graph;
  private readonly T: number;
  private readonly C: number;
  private readonly nh: number;
  private readonly hs: number;
  private readonly grads = new Map<string, string>();

  constructor(
    private readonly c: GptConfig,
    private readonly o: GptGraphOptions,
  ) {
    if (o.T > c.blockSize) throw new RangeError(`T ${o.T} is longer than the context (${c.blockSize})`);
    this.g = new Graph(o.float ?? 'float32');
    this.T = o.T;
    this.C = c.nEmbd;
    this.nh = c.nHead;
    this.hs = c.nEmbd / c.nHead;
  }

  /**
   * Records a parameter's gradient; with accumulation, adds `acc.<param>` at once, so the raw
   * gradient is freed as soon as it is made instead of living until the end of the graph.
   */
  private setGrad(name: string, grad: string): void {
    const { g } = this;
    this.grads.set(
      name,
      this.o.accumulate ? g.op('Add', [g.input(accName(name), g.float, undefined), grad]) : grad,
    );
  }

  build(): Uint8Array {
    const { g, c, T } = this;
    const ids = g.input('ids', 'int64', ['batch', T]);
    const targets = g.input('targets', 'int64', ['batch', T]);
    const gradScale = this.o.backward === false ? '' : g.input('grad_scale', g.float, []);
    for (const [name, shape] of parameterShapes(c)) g.input(name, g.float, shape);
    const forward = this.forward(ids, targets);
    if (this.o.backward === false) {
      // Each target's loss, for evaluate's buckets by place in a frame: [B, T]
      g.output('token_losses', g.op('Reshape', [g.op('Neg', [forward.picked]), g.ints([-1, T])]));
      return g.model('gpt2-loss');
    }
    this.backward(ids, gradScale, forward);
    for (const [name] of parameterShapes(c)) g.output(gradName(name), this.grads.get(name)!);
    return g.model('gpt2-train-step');
  }

  /** The blocks, the final LayerNorm, the tied head's log-probabilities and the mean loss (an output). */
  private forward(ids: string, targets: string) {
    const { g, c, T, C } = this;
    const tok = g.op('Gather', ['transformer.wte.weight', ids], { axis: 0 }); // [B, T, C]
    const pos = g.op('Slice', ['transformer.wpe.weight', g.ints([0]), g.ints([T]), g.ints([0])]); // [T, C]
    let x = g.op('Reshape', [g.op('Add', [tok, pos]), g.ints([-1, C])]); // [N, C]
    const layers: LayerSaved[] = [];
    for (let i = 0; i < c.nLayer; i++) {
      const saved = this.blockForward(i, x);
      layers.push(saved);
      x = saved.out;
    }
    const lnf = this.layerNorm(x, 'transformer.ln_f');
    const logits = g.op('Gemm', [lnf.y, 'transformer.wte.weight'], { transB: 1 }); // [N, V]
    const logp = g.op('LogSoftmax', [logits], { axis: 1 }); // [N, V]
    const flatTargets = g.op('Reshape', [targets, g.ints([-1, 1])]); // [N, 1]
    const picked = g.op('GatherElements', [logp, flatTargets], { axis: 1 }); // [N, 1]
    g.output('loss', g.op('Neg', [g.op('ReduceMean', [picked], { axes: [0, 1], keepdims: 0 })]));
    return { layers, lnf, logp, flatTargets, picked };
  }

  /** Every parameter's gradient (setGrad), from the loss back through the blocks to the embeddings. */
  private backward(ids: string, gradScale: string, f: ReturnType<GptGraph['forward']>): void {
    const { g, c, T, C } = this;
    // dlogits = (softmax − onehot(targets)) · grad_scale
    const iota = g.constant(
      Array.from({ length: c.vocabSize }, (_, v) => v),
      [1, c.vocabSize],
      'int64',
      'vocab',
    );
    const onehot = g.op('Cast', [g.op('Equal', [f.flatTargets, iota])], {
      to: g.float === 'float32' ? 1 : 11,
    });
    const dlogits = g.op('Mul', [g.op('Sub', [g.op('Exp', [f.logp]), onehot]), gradScale]); // [N, V]
    let dx = g.op('MatMul', [dlogits, 'transformer.wte.weight']); // [N, C]
    const dwteHead = g.op('Gemm', [dlogits, f.lnf.y], { transA: 1 }); // [V, C]
    dx = this.layerNormBackward(dx, f.lnf, 'transformer.ln_f');
    for (let i = c.nLayer - 1; i >= 0; i--) dx = this.blockBackward(i, dx, f.layers[i]!);
    // Embeddings: dx is d(tok + pos) [N, C]. Positions sum over the batch, padded to blockSize rows.
    const dpos = g.op('ReduceSum', [g.op('Reshape', [dx, g.ints([-1, T, C])]), g.ints([0])], { keepdims: 0 });
    this.setGrad(
      'transformer.wpe.weight',
      T === c.blockSize ? dpos : g.op('Pad', [dpos, g.ints([0, 0, c.blockSize - T, 0])]),
    );
    this.setGrad('transformer.wte.weight', g.op('Add', [dwteHead, this.embeddingGrad(ids, dx, iota)]));
  }

  /** d(token embedding) [V, C]: each position's dx added to its token's row. */
  private embeddingGrad(ids: string, dx: string, iota: string): string {
    const { g, c, C } = this;
    const flatIds = g.op('Reshape', [ids, g.ints([-1, 1])]); // [N, 1]
    if (this.o.embeddingGrad === 'onehot') {
      const idsOnehot = g.op('Cast', [g.op('Equal', [flatIds, iota])], {
        to: g.float === 'float32' ? 1 : 11,
      });
      return g.op('Gemm', [idsOnehot, dx], { transA: 1 }); // [V, C]
    }
    // NOTE: ScatterElements, not ScatterND: ORT's CPU ScatterND(add) splits the updates over
    // threads with no care for repeated ids, so rows of tokens seen more than once lost updates
    // at random (microsoft/onnxruntime#18048); ScatterElements(add) sums them in order, one thread.
    const zeros = g.op('Expand', [g.scalar(0), g.ints([c.vocabSize, C])]);
    const rows = g.op('Expand', [flatIds, g.op('Shape', [dx])]); // [N, C]: each position's id, per column
    return g.op('ScatterElements', [zeros, rows, dx], { axis: 0, reduction: 'add' }); // [V, C]
  }

  // ---- blocks

  private blockForward(i: number, x: string): LayerSaved {
    const { g, T, C, nh, hs } = this;
    const h = `transformer.h.${i}`;
    const ln1 = this.layerNorm(x, `${h}.ln_1`);
    const qkv = this.linear(ln1.y, `${h}.attn.c_attn`); // [N, 3C]
    const [q2, k2, v2] = g.ops('Split', [qkv, g.ints([C, C, C])], 3, { axis: 1 }) as [string, string, string];
    const heads = (t: string) =>
      g.op('Transpose', [g.op('Reshape', [t, g.ints([-1, T, nh, hs])])], { perm: [0, 2, 1, 3] });
    const q = heads(q2); // [B, nh, T, hs]
    const k = heads(k2);
    const v = heads(v2);
    const kT = g.op('Transpose', [k], { perm: [0, 1, 3, 2] }); // [B, nh, hs, T]
    const scores = g.op('Mul', [g.op('MatMul', [q, kT]), g.scalar(1 / Math.sqrt(hs))]); // [B, nh, T, T]
    const mask = this.causalMask();
    const p = g.op('Softmax', [g.op('Add', [scores, mask])], { axis: -1 });
    const yh = g.op('MatMul', [p, v]); // [B, nh, T, hs]
    const y = g.op('Reshape', [g.op('Transpose', [yh], { perm: [0, 2, 1, 3] }), g.ints([-1, C])]); // [N, C]
    const x1 = g.op('Add', [x, this.linear(y, `${h}.attn.c_proj`)]);
    const ln2 = this.layerNorm(x1, `${h}.ln_2`);
    const fc = this.linear(ln2.y, `${h}.mlp.c_fc`); // [N, 4C]
    const t = this.geluTanh(fc);
    const act = geluFrom(g, fc, t);
    const out = g.op('Add', [x1, this.linear(act, `${h}.mlp.c_proj`)]);
    return { ln1, q, k, v, p, scores, y, ln2, fc, t, act, out };
  }

  private blockBackward(i: number, dout: string, s: LayerSaved): string {
    const { g, T, C, nh, hs } = this;
    const h = `transformer.h.${i}`;
    // MLP; the residual passes dout through unchanged.
    const dact = this.linearBackward(dout, s.act, `${h}.mlp.c_proj`);
    const dfc = this.geluBackward(dact, s.fc, s.t);
    const dln2 = this.linearBackward(dfc, s.ln2.y, `${h}.mlp.c_fc`);
    const dx1 = g.op('Add', [dout, this.layerNormBackward(dln2, s.ln2, `${h}.ln_2`)]);
    // Attention.
    const dy = this.linearBackward(dx1, s.y, `${h}.attn.c_proj`); // [N, C]
    const dyh = g.op('Transpose', [g.op('Reshape', [dy, g.ints([-1, T, nh, hs])])], { perm: [0, 2, 1, 3] });
    const swap = (t: string) => g.op('Transpose', [t], { perm: [0, 1, 3, 2] });
    // NOTE: the 'attention-mask' mutation is the bug of a backward that recomputes p unmasked.
    const p = this.o.mutation === 'attention-mask' ? g.op('Softmax', [s.scores], { axis: -1 }) : s.p;
    const dv = g.op('MatMul', [swap(p), dyh]); // pᵀ @ dy [B, nh, T, hs]
    const dp = g.op('MatMul', [dyh, swap(s.v)]); // dy @ vᵀ [B, nh, T, T]
    // softmax backward: ds = p ⊙ (dp − Σ dp⊙p), then the 1/√hs scale
    const rowSum = g.op('ReduceSum', [g.op('Mul', [dp, p]), g.ints([-1])], { keepdims: 1 });
    const centered = this.o.mutation === 'softmax-sum' ? dp : g.op('Sub', [dp, rowSum]);
    // NOTE: the scale is applied to dq and dk [B, nh, T, hs] rather than ds [B, nh, T, T]: T/hs
    // times fewer multiplications.
    const ds = g.op('Mul', [p, centered]);
    const scale = g.scalar(1 / Math.sqrt(hs));
    const dq = g.op('Mul', [g.op('MatMul', [ds, s.k]), scale]); // [B, nh, T, hs]
    const dk = g.op('Mul', [g.op('MatMul', [swap(ds), s.q]), scale]);
    const rows = (t: string) =>
      g.op('Reshape', [g.op('Transpose', [t], { perm: [0, 2, 1, 3] }), g.ints([-1, C])]);
    const dqkv = g.op('Concat', [rows(dq), rows(dk), rows(dv)], { axis: 1 }); // [N, 3C]
    const dln1 = this.linearBackward(dqkv, s.ln1.y, `${h}.attn.c_attn`);
    return g.op('Add', [dx1, this.layerNormBackward(dln1, s.ln1, `${h}.ln_1`)]);
  }

  // ---- ops and their gradients

  private linear(x: string, prefix: string): string {
    return linear(this.g, x, prefix);
  }

  /** Records dw = xᵀ @ dy and db = Σ dy; returns dx = dy @ wᵀ. */
  private linearBackward(dy: string, x: string, prefix: string): string {
    const { g } = this;
    this.setGrad(`${prefix}.weight`, g.op('Gemm', [x, dy], { transA: 1 }));
    this.setGrad(`${prefix}.bias`, g.op('ReduceSum', [dy, g.ints([0])], { keepdims: 0 }));
    return g.op('Gemm', [dy, `${prefix}.weight`], { transB: 1 });
  }

  private layerNorm(x: string, prefix: string): LayerNormSaved {
    return layerNorm(this.g, x, prefix);
  }

  /** dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) with dx̂ = dy·γ; records dγ and dβ. */
  private layerNormBackward(dy: string, s: LayerNormSaved, prefix: string): string {
    const { g } = this;
    this.setGrad(
      `${prefix}.weight`,
      g.op('ReduceSum', [g.op('Mul', [dy, s.xhat]), g.ints([0])], { keepdims: 0 }),
    );
    this.setGrad(`${prefix}.bias`, g.op('ReduceSum', [dy, g.ints([0])], { keepdims: 0 }));
    const dxhat = g.op('Mul', [dy, s.g]);
    const meanD = g.op('ReduceMean', [dxhat], { axes: [-1], keepdims: 1 });
    const meanDX = g.op('ReduceMean', [g.op('Mul', [dxhat, s.xhat])], { axes: [-1], keepdims: 1 });
    const centered = this.o.mutation === 'layernorm-mean' ? dxhat : g.op('Sub', [dxhat, meanD]);
    return g.op('Mul', [s.rstd, g.op('Sub', [centered, g.op('Mul', [s.xhat, meanDX])])]);
  }

  private geluTanh(x: string): string {
    return geluTanh(this.g, x);
  }

  /** dx = dy · (½(1+t) + ½x(1−t²)·k(1+3·0.044715x²)). */
  private geluBackward(dy: string, x: string, t: string): string {
    const { g } = this;
    const inner = g.op('Mul', [
      g.op('Add', [g.op('Mul', [g.op('Mul', [x, x]), g.scalar(3 * 0.044715)]), g.scalar(1)]),
      g.scalar(GELU_K),
    ]);
    const sech2 = g.op('Sub', [g.scalar(1), g.op('Mul', [t, t])]);
    const first = g.op('Mul', [g.op('Add', [t, g.scalar(1)]), g.scalar(0.5)]);
    const second = g.op('Mul', [g.op('Mul', [g.op('Mul', [x, g.scalar(0.5)]), sech2]), inner]);
    const d = g.op(this.o.mutation === 'gelu-sign' ? 'Sub' : 'Add', [first, second]);
    return g.op('Mul', [dy, d]);
  }

  private maskName: string | undefined;
  /** [T, T]: 0 on and below the diagonal, −1e9 above (as ops.ts). */
  private causalMask(): string {
    if (!this.maskName) {
      const { T } = this;
      const values = new Float64Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) values[i * T + j] = -1e9;
      this.maskName = this.g.constant(values, [T, T], this.g.float, 'causal_mask');
    }
    return this.maskName;
  }
}

interface LayerSaved {
  ln1: LayerNormSaved;
  q: string;
  k: string;
  v: string;
  p: string;
  scores: string;
  y: string;
  ln2: LayerNormSaved;
  fc: string;
  t: string;
  act: string;
  out: string;
}
