// GPT-2 as in Karpathy's build-nanogpt, over tfjs: pre-LayerNorm blocks, causal self-attention with
// a fused c_attn, tanh-GELU MLP, learned position embeddings, lm_head tied to wte. Parameters carry
// Hugging Face GPT-2 names and layouts (Conv1D weights stored [in, out]), so checkpoints need no
// conversion. Activations are kept 2-D [B·T, C] between blocks (see ops.ts for why).
import type { Scalar, Tensor, Tensor1D, Tensor2D, Tensor3D, Variable } from '@tensorflow/tfjs';
import type { Tf } from './backend.ts';
import type { GptConfig } from './config.ts';
import { makeOps, type Ops } from './ops.ts';
import { Rng } from './rng.ts';
import type { NamedTensor } from './safetensors.ts';

/** Per-layer K and V for incremental decoding: [B·nh, t, hs] each. */
export interface KvCache {
  length: number;
  layers: { k: Tensor3D; v: Tensor3D }[];
}

/** The parameters in a fixed order with their shapes; the order is the checkpoint/optimizer order. */
export function parameterShapes(c: GptConfig): [string, number[]][] {
  const C = c.nEmbd;
  const shapes: [string, number[]][] = [
    ['transformer.wte.weight', [c.vocabSize, C]],
    ['transformer.wpe.weight', [c.blockSize, C]],
  ];
  for (let i = 0; i < c.nLayer; i++) {
    const h = `transformer.h.${i}`;
    shapes.push(
      [`${h}.ln_1.weight`, [C]],
      [`${h}.ln_1.bias`, [C]],
      [`${h}.attn.c_attn.weight`, [C, 3 * C]],
      [`${h}.attn.c_attn.bias`, [3 * C]],
      [`${h}.attn.c_proj.weight`, [C, C]],
      [`${h}.attn.c_proj.bias`, [C]],
      [`${h}.ln_2.weight`, [C]],
      [`${h}.ln_2.bias`, [C]],
      [`${h}.mlp.c_fc.weight`, [C, 4 * C]],
      [`${h}.mlp.c_fc.bias`, [4 * C]],
      [`${h}.mlp.c_proj.weight`, [4 * C, C]],
      [`${h}.mlp.c_proj.bias`, [C]],
    );
  }
  shapes.push(['transformer.ln_f.weight', [C]], ['transformer.ln_f.bias', [C]]);
  return shapes;
}

/**
 * build-nanogpt's init: N(0, 0.02) for embeddings and weights, residual projections (c_proj) scaled
 * by (2·n_layer)^-½, zero biases, LayerNorm weight 1 / bias 0.
 */
export function initialWeights(c: GptConfig, seed: number): Map<string, NamedTensor> {
  const rng = new Rng(seed);
  const weights = new Map<string, NamedTensor>();
  for (const [name, shape] of parameterShapes(c)) {
    const count = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name.includes('.ln_')) data = new Float32Array(count).fill(name.endsWith('.weight') ? 1 : 0);
    else if (name.endsWith('.bias')) data = new Float32Array(count);
    else data = rng.normal(count, name.endsWith('c_proj.weight') ? 0.02 * (2 * c.nLayer) ** -0.5 : 0.02);
    weights.set(name, { shape, data });
  }
  return weights;
}

let instances = 0;

export class Gpt {
  readonly ops: Ops;
  /** HF name → variable. */
  readonly params = new Map<string, Variable>();
  /** tfjs variable names are process-wide, so each model prefixes its own; variable name → HF name. */
  private readonly paramOfVariable = new Map<string, string>();

  constructor(
    readonly tf: Tf,
    readonly config: GptConfig,
    weights: ReadonlyMap<string, NamedTensor>,
  ) {
    this.ops = makeOps(tf);
    instances++;
    for (const [name, shape] of parameterShapes(config)) {
      const w = weights.get(name);
      if (!w) throw new Error(`checkpoint has no tensor "${name}"`);
      if (w.shape.join(',') !== shape.join(','))
        throw new Error(`checkpoint tensor "${name}" has shape [${w.shape}], the config needs [${shape}]`);
      // tidy frees the initial tensor: a variable shares its data, so a tensor left alive would keep
      // the weights allocated after dispose().
      const id = `gpt${instances}/${name}`;
      const variable = tf.tidy(() => tf.variable(tf.tensor(w.data, shape), true, id));
      this.params.set(name, variable);
      this.paramOfVariable.set(id, name);
    }
  }

  private p<T extends Tensor>(name: string): T {
    return this.params.get(name) as unknown as T;
  }

  /** Logits [B·T, V] for token ids [B·T] laid out as B rows of T, positions from `start`. */
  forward(ids: Int32Array, B: number, T: number, cache?: KvCache): Tensor2D {
    const { tf, ops, config } = this;
    const C = config.nEmbd;
    const start = cache?.length ?? 0;
    if (start + T > config.blockSize)
      throw new RangeError(
        `sequence of ${start + T} tokens is longer than the context (${config.blockSize})`,
      );
    const tok = ops.embed(this.p('transformer.wte.weight'), ids);
    const pos = tf.slice(this.p<Tensor2D>('transformer.wpe.weight'), [start, 0], [T, C]);
    // [B·T, C] + [T, C] broadcast per row of T
    let x = tf.reshape(tf.add(tf.reshape(tok, [B, T, C]), pos), [B * T, C]) as Tensor2D;
    for (let i = 0; i < config.nLayer; i++) x = this.block(i, x, B, T, cache);
    if (cache) cache.length += T;
    x = ops.layerNorm(x, this.p('transformer.ln_f.weight'), this.p('transformer.ln_f.bias'));
    return ops.tiedHead(x, this.p('transformer.wte.weight'));
  }

  private block(i: number, x: Tensor2D, B: number, T: number, cache?: KvCache): Tensor2D {
    const { tf, ops } = this;
    const h = `transformer.h.${i}`;
    const a = ops.layerNorm(x, this.p(`${h}.ln_1.weight`), this.p(`${h}.ln_1.bias`));
    const y = this.attention(i, a, B, T, cache);
    x = tf.add(x, ops.linear(y, this.p(`${h}.attn.c_proj.weight`), this.p(`${h}.attn.c_proj.bias`)));
    const m = ops.layerNorm(x, this.p(`${h}.ln_2.weight`), this.p(`${h}.ln_2.bias`));
    const f = ops.gelu(ops.linear(m, this.p(`${h}.mlp.c_fc.weight`), this.p(`${h}.mlp.c_fc.bias`)));
    return tf.add(x, ops.linear(f, this.p(`${h}.mlp.c_proj.weight`), this.p(`${h}.mlp.c_proj.bias`)));
  }

  private attention(i: number, x: Tensor2D, B: number, T: number, cache?: KvCache): Tensor2D {
    const { tf, ops, config } = this;
    const { nHead, nEmbd: C } = config;
    const hs = C / nHead;
    const h = `transformer.h.${i}`;
    const qkv = ops.linear(x, this.p(`${h}.attn.c_attn.weight`), this.p(`${h}.attn.c_attn.bias`));
    if (!cache) return ops.causalSelfAttention(qkv, B, T, nHead);
    // Incremental decoding: [B·T, 3C] → [3, B·nh, T, hs] against the cached keys and values.
    const heads = tf.reshape(tf.transpose(tf.reshape(qkv, [B, T, 3, nHead, hs]), [2, 0, 3, 1, 4]), [
      3,
      B * nHead,
      T,
      hs,
    ]);
    const [q, k, v] = tf.unstack(heads) as [Tensor3D, Tensor3D, Tensor3D];
    const out = this.cachedAttention(i, q, k, v, cache);
    // [B·nh, T, hs] → [B·T, C]
    return tf.reshape(tf.transpose(tf.reshape(out, [B, nHead, T, hs]), [0, 2, 1, 3]), [B * T, C]) as Tensor2D;
  }

  /** Attention of the new positions against cached plus new K/V (inference only). */
  private cachedAttention(i: number, q: Tensor3D, k: Tensor3D, v: Tensor3D, cache: KvCache): Tensor3D {
    const { tf } = this;
    const layer = cache.layers[i];
    const keys = layer ? tf.concat([layer.k, k], 1) : k;
    const values = layer ? tf.concat([layer.v, v], 1) : v;
    if (layer) tf.dispose([layer.k, layer.v]);
    cache.layers[i] = { k: tf.keep(keys), v: tf.keep(values) };
    const [, T, hs] = q.shape;
    const total = keys.shape[1];
    // New position t (absolute start+t) sees keys 0..start+t.
    const start = total - T;
    const mask = new Float32Array(T * total);
    for (let t = 0; t < T; t++) for (let j = start + t + 1; j < total; j++) mask[t * total + j] = -1e9;
    const scores = tf.mul(tf.matMul(q, keys, false, true), 1 / Math.sqrt(hs));
    const p = tf.softmax(tf.add(scores, tf.tensor2d(mask, [T, total])));
    return tf.matMul(p, values);
  }

  /** Mean cross-entropy of predicting `targets` from `ids` (both B·T, row-major). */
  loss(ids: Int32Array, targets: Int32Array, B: number, T: number): Tensor {
    return this.ops.crossEntropy(this.forward(ids, B, T), targets);
  }

  /**
   * The loss (times `scale`, e.g. 1/accumulation steps) and its gradients by HF parameter name; the
   * caller owns (disposes) the gradients.
   */
  lossAndGrads(
    ids: Int32Array,
    targets: Int32Array,
    B: number,
    T: number,
    scale = 1,
  ): { loss: number; grads: Map<string, Tensor> } {
    const { tf } = this;
    const { value, grads } = tf.variableGrads(
      () => tf.mul(this.loss(ids, targets, B, T), scale) as Scalar,
      [...this.params.values()],
    );
    const loss = value.dataSync()[0]!;
    value.dispose();
    const named = new Map<string, Tensor>();
    for (const [id, g] of Object.entries(grads)) named.set(this.paramOfVariable.get(id)!, g);
    return { loss, grads: named };
  }

  newCache(): KvCache {
    return { length: 0, layers: [] };
  }

  disposeCache(cache: KvCache): void {
    for (const layer of cache.layers) this.tf.dispose([layer.k, layer.v]);
    cache.layers = [];
    cache.length = 0;
  }

  /** Replaces every weight with the host array of the same name (e.g. the trainer's master copy). */
  setWeights(weights: ReadonlyMap<string, { data: Float32Array }>): void {
    const { tf } = this;
    for (const [name, variable] of this.params) {
      const w = weights.get(name);
      if (!w) throw new Error(`no weights for "${name}"`);
      tf.tidy(() => variable.assign(tf.tensor(w.data, variable.shape)));
    }
  }

  /** The weights as host arrays under their HF names (for safetensors). */
  weights(): Map<string, NamedTensor> {
    const out = new Map<string, NamedTensor>();
    for (const [name, variable] of this.params)
      out.set(name, { shape: variable.shape, data: variable.dataSync() as Float32Array });
    return out;
  }

  dispose(): void {
    for (const variable of this.params.values()) variable.dispose();
    this.params.clear();
    this.ops.dispose();
  }
}

export type { Tensor1D };
