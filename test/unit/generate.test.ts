// Sampling: the KV cache gives exactly the tokens of full recomputation (also past the context,
// where the window restarts), constrained decoding always yields whole frames, and the sampler's
// temperature / top-k / top-p / seed behave as documented.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { type LoadedBackend, loadBackend } from '../../stages/model/backend.ts';
import { generate, pick, type SampleOptions } from '../../stages/model/generate.ts';
import { Gpt, initialWeights } from '../../stages/model/gpt.ts';
import { Rng } from '../../stages/model/rng.ts';
import { makeLayout } from '../../stages/tokens/layout-registry.ts';

const layout = makeLayout('gpt2o', 4096);
const config = { vocabSize: 4098, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 16 };

const constrained = (sequence: ArrayLike<number>) => layout.legalNext(sequence);

describe('generate', () => {
  let backend: LoadedBackend;
  let model: Gpt;
  const prompt = layout.flatten({
    levels: [Uint16Array.of(5, 9), Uint16Array.of(1, 2, 3, 4), Uint16Array.of(7, 7, 7, 7, 8, 8, 8, 8)],
  });
  const base: SampleOptions = {
    count: 3,
    maxNewTokens: 40,
    temperature: 1,
    topK: 0,
    topP: 1,
    seed: 7,
    kvCache: true,
  };

  before(async () => {
    backend = await loadBackend('wasm');
    // Larger weights than init, so the distribution is far from uniform and differences would show.
    const weights = initialWeights(config, 11);
    for (const [name, w] of weights)
      if (!name.includes('ln_')) for (let i = 0; i < w.data.length; i++) w.data[i]! *= 20;
    model = new Gpt(backend.tf, config, weights);
  });

  test('the KV cache and full recomputation give the same tokens, past the context length too', async () => {
    // Warm up: the first full forward keeps one causal mask for the process.
    await generate(model, prompt, { ...base, maxNewTokens: 1, kvCache: false });
    const before = backend.tf.memory().numTensors;
    const cached = await generate(model, prompt, { ...base, kvCache: true });
    const full = await generate(model, prompt, { ...base, kvCache: false });
    assert.equal(prompt.length + base.maxNewTokens, 56); // > blockSize 24: the window restarts
    assert.deepEqual(
      cached.map((s) => Array.from(s)),
      full.map((s) => Array.from(s)),
    );
    assert.notDeepEqual(Array.from(cached[0]!), Array.from(cached[1]!), 'rows sample independently');
    assert.equal(backend.tf.memory().numTensors, before, 'no tensors leak');
  });

  test('cached logits equal full-forward logits position by position', () => {
    const ids = Int32Array.from(prompt);
    const T = ids.length;
    const full = backend.tf.tidy(() => model.forward(ids, 1, T).dataSync() as Float32Array);
    const cache = model.newCache();
    const head = backend.tf.tidy(
      () => model.forward(ids.subarray(0, 10), 1, 10, cache).dataSync() as Float32Array,
    );
    const rest: Float32Array[] = [];
    for (let t = 10; t < T; t++)
      rest.push(
        backend.tf.tidy(() => model.forward(ids.subarray(t, t + 1), 1, 1, cache).dataSync() as Float32Array),
      );
    model.disposeCache(cache);
    const V = config.vocabSize;
    let worst = 0;
    for (let t = 0; t < T; t++) {
      const row = t < 10 ? head.subarray(t * V, (t + 1) * V) : rest[t - 10]!;
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(row[v]! - full[t * V + v]!));
    }
    assert.ok(worst < 1e-4, `largest logit difference ${worst}`);
  });

  test('constrained samples always unflatten to whole frames; unconstrained ones mostly do not', async () => {
    const options = { ...base, count: 4, maxNewTokens: 64, allowed: constrained };
    for (const sequence of await generate(model, prompt, options)) {
      const codes = layout.unflatten(sequence);
      assert.equal(codes.dropped, 0);
      assert.equal(codes.levels[0].length, sequence.length / 8);
    }
    const free = await generate(model, prompt, { ...options, allowed: undefined });
    const frames = free.map((s) => layout.unflatten(s.subarray(prompt.length)));
    const valid = frames.reduce((n, c) => n + c.levels[0].length, 0);
    assert.ok(valid < 4 * 8, `a random model rarely writes whole frames (${valid} of 32)`);
  });

  test('the same seed gives the same samples; another seed others', async () => {
    const a = await generate(model, prompt, base);
    const b = await generate(model, prompt, base);
    const c = await generate(model, prompt, { ...base, seed: 8 });
    assert.deepEqual(Array.from(a[0]!), Array.from(b[0]!));
    assert.notDeepEqual(Array.from(a[0]!), Array.from(c[0]!));
  });
});

describe('pick', () => {
  const logits = Float32Array.from([0, 3, 1, 2, -1]);
  const all = { min: 0, max: 4 };
  const options = (o: Partial<SampleOptions>): SampleOptions => ({
    count: 1,
    maxNewTokens: 1,
    temperature: 1,
    topK: 0,
    topP: 1,
    seed: 1,
    kvCache: true,
    ...o,
  });
  const histogram = (o: SampleOptions, n = 4000) => {
    const rng = new Rng(3);
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[pick(logits, all, o, rng)]!++;
    return counts.map((c) => c / n);
  };

  test('temperature 0 is greedy and respects the allowed range', () => {
    assert.equal(pick(logits, all, options({ temperature: 0 }), new Rng(1)), 1);
    assert.equal(pick(logits, { min: 2, max: 4 }, options({ temperature: 0 }), new Rng(1)), 3);
  });

  test('frequencies follow softmax(logits / temperature)', () => {
    const z = [0, 3, 1, 2, -1].map((x) => Math.exp(x));
    const sum = z.reduce((a, b) => a + b);
    const observed = histogram(options({}));
    for (let i = 0; i < 5; i++)
      assert.ok(Math.abs(observed[i]! - z[i]! / sum) < 0.03, `${i}: ${observed[i]}`);
  });

  test('top-k keeps the k most likely ids; top-p the smallest set reaching p', () => {
    const k2 = histogram(options({ topK: 2 }));
    assert.deepEqual(
      k2.map((f) => f > 0),
      [false, true, false, true, false],
    );
    // softmax: 1 → 0.64, 3 → 0.24, 2 → 0.09: p = 0.8 needs ids 1 and 3.
    const p8 = histogram(options({ topP: 0.8 }));
    assert.deepEqual(
      p8.map((f) => f > 0),
      [false, true, false, true, false],
    );
    assert.ok(Math.abs(p8[1]! - 0.64 / 0.88) < 0.03);
  });
});

test('pick: top-k / top-p order ids by logit, ties by id, as the comparator it replaced; plain sampling walks ids in order', () => {
  const rng = new Rng(5);
  const logits = Float32Array.from({ length: 300 }, () => Math.round((rng.next() - 0.5) * 20) / 4);
  logits[7] = -0;
  logits[8] = 0;
  const options: SampleOptions = {
    count: 1,
    maxNewTokens: 1,
    temperature: 0.7,
    topK: 0,
    topP: 1,
    seed: 1,
    kvCache: true,
  };
  // The former pick (a comparator sort, or no sort for plain sampling): the same draws must land
  // on the same ids.
  const reference = (range: { min: number; max: number }, o: SampleOptions, r: Rng) => {
    const ids: number[] = [];
    for (let id = range.min; id <= range.max; id++) ids.push(id);
    if (o.topK > 0 || o.topP < 1) ids.sort((a, b) => logits[b]! - logits[a]! || a - b);
    let kept = o.topK > 0 ? ids.slice(0, o.topK) : ids;
    const top = Math.max(...kept.map((id) => logits[id]!));
    let weights = kept.map((id) => Math.exp((logits[id]! - top) / o.temperature));
    let total = weights.reduce((a, b) => a + b, 0);
    if (o.topP < 1) {
      let mass = 0;
      let n = 0;
      while (n < kept.length && mass < o.topP * total) mass += weights[n++]!;
      kept = kept.slice(0, n);
      weights = weights.slice(0, n);
      total = mass;
    }
    let u = r.next() * total;
    for (let i = 0; i < kept.length; i++) {
      u -= weights[i]!;
      if (u < 0) return kept[i]!;
    }
    return kept[kept.length - 1]!;
  };
  for (const [range, topK, topP] of [
    [{ min: 0, max: 299 }, 0, 1],
    [{ min: 3, max: 40 }, 0, 1],
    [{ min: 0, max: 299 }, 300, 1],
    [{ min: 0, max: 299 }, 5, 1],
    [{ min: 3, max: 240 }, 0, 0.9],
  ] as const) {
    const a = new Rng(3);
    const b = new Rng(3);
    for (let i = 0; i < 200; i++)
      assert.equal(
        pick(logits, range, { ...options, topK, topP }, a),
        reference(range, { ...options, topK, topP }, b),
      );
  }
  assert.equal(
    pick(logits, { min: 0, max: 299 }, { ...options, temperature: 0 }, new Rng(1)),
    logits.indexOf(Math.max(...logits)),
  );
});
