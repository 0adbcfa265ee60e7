// The optimizer graph (stages/model/onnx/adamw-graph.ts in ort-adamw.ts) against adamw.ts's AdamW
// on host arrays, on random weights and gradients: three steps, with clipping on and off, give the
// same weights and moments within a few float32 ulps of each tensor's scale (the graph rounds after
// every op, the host loop once per element) and the same global norm; the graph's saved state
// loads into the host AdamW and the next step still agrees.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { AdamW, type Optimizer } from '../../stages/model/adamw.ts';
import type { GptConfig } from '../../stages/model/config.ts';
import { parameterShapes } from '../../stages/model/gpt.ts';
import { OrtAdamW } from '../../stages/model/onnx/ort-adamw.ts';
import { Rng } from '../../stages/model/rng.ts';
import type { NamedTensor } from '../../stages/model/safetensors.ts';

const config: GptConfig = { vocabSize: 13, blockSize: 6, nLayer: 2, nHead: 2, nEmbd: 8 };
const options = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
const rng = new Rng(11);

function randomWeights(): Map<string, NamedTensor> {
  return new Map(
    parameterShapes(config).map(([name, shape]) => {
      const size = shape.reduce((a, b) => a * b, 1);
      return [name, { shape, data: Float32Array.from(rng.normal(size, 0.5)) }];
    }),
  );
}

const copy = (m: ReadonlyMap<string, NamedTensor>) =>
  new Map([...m].map(([name, t]) => [name, { shape: [...t.shape], data: Float32Array.from(t.data) }]));

/**
 * Bit-close: each element within 4 float32 ulps of the tensor's largest magnitude (2^-21 of it).
 * An element near 0 after a large update (w − lr·m̂/√v̂ cancelling) keeps the update's rounding,
 * so a per-element ulp count would fail on correct arithmetic.
 */
function assertClose(what: string, a: ReadonlyMap<string, NamedTensor>, b: ReadonlyMap<string, NamedTensor>) {
  for (const [name, t] of a) {
    const other = b.get(name)!.data;
    assert.equal(t.data.length, other.length, name);
    const scale = other.reduce((max, x) => Math.max(max, Math.abs(x)), 0);
    for (let i = 0; i < t.data.length; i++)
      assert.ok(
        Math.abs(t.data[i]! - other[i]!) <= 2 ** -21 * scale,
        `${what} ${name}[${i}]: ${t.data[i]} vs ${other[i]} (tensor scale ${scale})`,
      );
  }
}

test('the AdamW graph takes the same steps as the host AdamW, clipping on and off', async () => {
  const weights = randomWeights();
  const hostWeights = copy(weights);
  const graph = await OrtAdamW.start(ort, config, weights, { ...options, device: 'cpu', threads: 2 });
  const host: Optimizer = new AdamW(hostWeights, options);
  try {
    // Steps: clipped (norm ≫ 1), a max norm just above the norm (no clipping: coefficient in
    // (1, 2)), clipping off (0).
    for (const [lr, clip] of [
      [0.01, () => 1],
      [0.003, (norm: number) => 1.5 * norm],
      [0.02, () => 0],
    ] as const) {
      const grads = new Map(
        parameterShapes(config).map(([name, shape]) => [
          name,
          Float32Array.from(
            rng.normal(
              shape.reduce((a, b) => a * b, 1),
              1,
            ),
          ),
        ]),
      );
      let sum = 0;
      for (const g of grads.values()) for (const x of g) sum += x * x;
      const maxNorm = clip(Math.sqrt(sum));
      const hostGrads = new Map([...grads].map(([name, g]) => [name, Float32Array.from(g)]));
      const normGraph = await graph.update(grads, lr, maxNorm);
      const normHost = await host.update(hostGrads, lr, maxNorm);
      assert.ok(Math.abs(normGraph - normHost) <= 1e-12 * normHost, `norm ${normGraph} vs ${normHost}`);
      assertClose(`weights (lr ${lr}, max norm ${maxNorm})`, weights, hostWeights);
      assertClose(`moments (lr ${lr}, max norm ${maxNorm})`, graph.state(), host.state());
    }
    assert.equal(graph.step, 3);
    // The state round-trips: loaded into a fresh host AdamW, the next steps still agree.
    const again = new AdamW(hostWeights, options);
    again.load(graph.state(), graph.step);
    const grads = new Map(
      parameterShapes(config).map(([name, shape]) => [
        name,
        Float32Array.from(
          rng.normal(
            shape.reduce((a, b) => a * b, 1),
            1,
          ),
        ),
      ]),
    );
    const hostGrads = new Map([...grads].map(([name, g]) => [name, Float32Array.from(g)]));
    await graph.update(grads, 0.01, 1);
    await again.update(hostGrads, 0.01, 1);
    assertClose('after load', weights, hostWeights);
  } finally {
    await graph.dispose();
  }
});
