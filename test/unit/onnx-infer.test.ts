// evaluate and sample on ONNX Runtime against tfjs (wasm) on the same weights: each target's loss
// from the forward-only graph within 1e-5 (windows in batches and a shorter last window); the
// KV-cache graph's logits, prompt pass then one position per step, within 1e-4 of the full tfjs
// forward at every position; and sampling (constrained, past the context, so the window restarts)
// picks the same tokens as the tfjs path for the same seed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadBackend } from '../../stages/model/backend.ts';
import { gptTokenLosses, meanOf, streamLosses } from '../../stages/model/eval-loss.ts';
import { generate, type SampleOptions } from '../../stages/model/generate.ts';
import { Gpt, initialWeights } from '../../stages/model/gpt.ts';
import { OrtModel } from '../../stages/model/onnx/ort-model.ts';
import { Rng } from '../../stages/model/rng.ts';
import { makeLayout } from '../../stages/tokens/layout-registry.ts';

const layout = makeLayout('gpt2o', 4096);
const config = { vocabSize: 4098, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 16 };
// Larger weights than init, so the distribution is far from uniform and differences would show.
const weights = initialWeights(config, 11);
for (const [name, w] of weights)
  if (!name.includes('ln_')) for (let i = 0; i < w.data.length; i++) w.data[i]! *= 20;

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
};

describe('ONNX Runtime inference', () => {
  let tfjs: Gpt;
  let ort: OrtModel;
  before(async () => {
    tfjs = new Gpt((await loadBackend('wasm')).tf, config, weights);
    ort = await OrtModel.start(config, weights, { device: 'cpu', threads: 1 });
  });
  after(async () => {
    tfjs.dispose();
    await ort.dispose();
  });

  test('evaluate: each target loss equals the tfjs one within 1e-5 (batched windows and a shorter last one)', async () => {
    const rng = new Rng(3);
    // 3 full windows of 24 and a last one of 10 targets.
    const stream = Uint16Array.from({ length: 3 * 24 + 11 }, () => Math.floor(rng.next() * config.vocabSize));
    const a = await streamLosses(gptTokenLosses(tfjs), stream, 24, 2);
    const b = await streamLosses((ids, t, B, T) => ort.tokenLosses(ids, t, B, T), stream, 24, 2);
    assert.equal(b.windows, 4);
    assert.equal(b.losses.length, stream.length - 1);
    const worst = maxDiff(a.losses, b.losses);
    assert.ok(worst < 1e-5, `worst token loss difference ${worst}`);
    assert.ok(Math.abs(meanOf(a.losses) - meanOf(b.losses)) < 1e-5);
    assert.ok(meanOf(b.losses) > 1, 'a loss far from zero, so the comparison means something');
  });

  test('sample: the KV-cache graph gives the full forward logits at every position within 1e-4', async () => {
    const ids = Int32Array.from(
      layout.flatten({
        levels: [Uint16Array.of(5, 9), Uint16Array.of(1, 2, 3, 4), Uint16Array.of(7, 7, 7, 7, 8, 8, 8, 8)],
      }),
    );
    const T = ids.length;
    const V = config.vocabSize;
    const full = tfjs.tf.tidy(() => tfjs.forward(ids, 1, T).dataSync() as Float32Array);
    const decoder = ort.decoder();
    // A prompt pass of 5 positions, then one position per step.
    const prompt = 5;
    let worst = maxDiff(
      await decoder.lastLogits(ids.subarray(0, prompt), 1, prompt, true),
      full.subarray((prompt - 1) * V, prompt * V),
    );
    for (let t = prompt; t < T; t++) {
      const rows = await decoder.lastLogits(ids.subarray(t, t + 1), 1, 1, true);
      worst = Math.max(worst, maxDiff(rows, full.subarray(t * V, (t + 1) * V)));
    }
    assert.ok(worst < 1e-4, `worst logit difference ${worst}`);
    // Uncached: the window alone from position 0, as the tfjs forward.
    const uncached = await decoder.lastLogits(ids, 1, T, false);
    assert.ok(maxDiff(uncached, full.subarray((T - 1) * V, T * V)) < 1e-4);
  });

  test('sample: the same seed picks the same tokens as tfjs, with and without the cache, past the context', async () => {
    const prompt = layout.flatten({
      levels: [Uint16Array.of(5, 9), Uint16Array.of(1, 2, 3, 4), Uint16Array.of(7, 7, 7, 7, 8, 8, 8, 8)],
    });
    const options: SampleOptions = {
      count: 3,
      maxNewTokens: 40, // 16 + 40 > blockSize 24: the window restarts
      temperature: 1,
      topK: 0,
      topP: 1,
      seed: 7,
      kvCache: true,
      allowed: (sequence) => layout.legalNext(sequence),
    };
    const rows = (s: Int32Array[]) => s.map((r) => Array.from(r));
    const reference = rows(await generate(tfjs, prompt, options));
    assert.deepEqual(rows(await generate(ort.decoder(), prompt, options)), reference);
    assert.deepEqual(rows(await generate(ort.decoder(), prompt, { ...options, kvCache: false })), reference);
    for (const sequence of reference) assert.equal(layout.unflatten(Uint16Array.from(sequence)).dropped, 0);
  });
});
