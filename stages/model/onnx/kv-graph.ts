// GPT-2's forward pass for sampling, with a KV cache: new token ids [B, T] at positions
// `positions` [T], attending to the cached keys/values of P earlier positions (past.<i>.key /
// past.<i>.value [B, nh, P, hs]) and to each other through `mask` [T, P+T] (0 or −1e9, additive, as
// gpt.ts). Outputs: the logits of the last new position [B, V] and present.<i>.key / .value
// [B, nh, P+T, hs], the next step's past. B, T and P are symbolic, so one session serves the prompt
// pass (P = 0) and every one-token step after it. The weights are initializers: built once per
// model, prepacked by ONNX Runtime, and resident on the device.
import type { GptConfig } from '../config.ts';
import { parameterShapes } from '../gpt.ts';
import type { NamedTensor } from '../safetensors.ts';
import { geluFrom, geluTanh, layerNorm, linear } from './forward-ops.ts';
import { Graph } from './graph.ts';

export const pastKey = (layer: number) => `past.${layer}.key`;
export const pastValue = (layer: number) => `past.${layer}.value`;
export const presentKey = (layer: number) => `present.${layer}.key`;
export const presentValue = (layer: number) => `present.${layer}.value`;

/** The ModelProto bytes of the cached forward graph with `weights` baked in. */
export function buildKvGraph(c: GptConfig, weights: ReadonlyMap<string, NamedTensor>): Uint8Array {
  const g = new Graph('float32');
  const C = c.nEmbd;
  const nh = c.nHead;
  const hs = C / nh;
  const ids = g.input('ids', 'int64', ['batch', 'new']);
  const positions = g.input('positions', 'int64', ['new']);
  const mask = g.input('mask', 'float32', ['new', 'total']);
  for (const [name, shape] of parameterShapes(c)) {
    const w = weights.get(name);
    if (!w) throw new Error(`no weights for "${name}"`);
    g.initializer(name, w.data, shape);
  }
  const tok = g.op('Gather', ['transformer.wte.weight', ids], { axis: 0 }); // [B, T, C]
  const pos = g.op('Gather', ['transformer.wpe.weight', positions], { axis: 0 }); // [T, C]
  let x = g.op('Add', [tok, pos]); // [B, T, C]
  const heads = (t: string) =>
    g.op('Transpose', [g.op('Reshape', [t, g.ints([0, 0, nh, hs])])], { perm: [0, 2, 1, 3] }); // [B, nh, T, hs]
  for (let i = 0; i < c.nLayer; i++) {
    const h = `transformer.h.${i}`;
    const qkv = linear(g, layerNorm(g, x, `${h}.ln_1`).y, `${h}.attn.c_attn`); // [B, T, 3C]
    const [q2, k2, v2] = g.ops('Split', [qkv, g.ints([C, C, C])], 3, { axis: 2 }) as [string, string, string];
    g.input(pastKey(i), 'float32', ['batch', nh, 'past', hs]);
    g.input(pastValue(i), 'float32', ['batch', nh, 'past', hs]);
    const k = g.op('Concat', [pastKey(i), heads(k2)], { axis: 2 }); // [B, nh, P+T, hs]
    const v = g.op('Concat', [pastValue(i), heads(v2)], { axis: 2 });
    g.output(presentKey(i), k);
    g.output(presentValue(i), v);
    const kT = g.op('Transpose', [k], { perm: [0, 1, 3, 2] }); // [B, nh, hs, P+T]
    const scores = g.op('Mul', [g.op('MatMul', [heads(q2), kT]), g.scalar(1 / Math.sqrt(hs))]); // [B, nh, T, P+T]
    const p = g.op('Softmax', [g.op('Add', [scores, mask])], { axis: -1 });
    const yh = g.op('MatMul', [p, v]); // [B, nh, T, hs]
    const y = g.op('Reshape', [g.op('Transpose', [yh], { perm: [0, 2, 1, 3] }), g.ints([0, 0, C])]); // [B, T, C]
    x = g.op('Add', [x, linear(g, y, `${h}.attn.c_proj`)]);
    const fc = linear(g, layerNorm(g, x, `${h}.ln_2`).y, `${h}.mlp.c_fc`); // [B, T, 4C]
    x = g.op('Add', [x, linear(g, geluFrom(g, fc, geluTanh(g, fc)), `${h}.mlp.c_proj`)]);
  }
  // Only the last new position is sampled from: LayerNorm and the head on [B, C] alone.
  const last = g.op('Squeeze', [
    g.op('Slice', [x, g.ints([-1]), g.ints([2 ** 31 - 1]), g.ints([1])]),
    g.ints([1]),
  ]); // [B, C]
  const lnf = layerNorm(g, last, 'transformer.ln_f');
  g.output('logits', g.op('Gemm', [lnf.y, 'transformer.wte.weight'], { transB: 1 })); // [B, V]
  return g.model('gpt2-kv-step');
}
