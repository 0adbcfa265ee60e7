// The GPT-2 model stage's building blocks on the wasm backend (the one CI uses), with tiny configs:
// - every hand-written gradient in ops.ts against central finite differences, per parameter tensor;
// - a tiny model memorises a periodic token stream with AdamW (the whole forward/backward/update
//   path learns);
// - checkpoints round-trip bit for bit, and model.safetensors is laid out as Hugging Face GPT-2
//   expects (checked by parsing the bytes here, not with our reader);
// - AdamW, gradient clipping and the LR schedule against torch's numbers;
// - the token loader: shard boundaries, wrap-around, shifted targets, seek, too-small splits.
// tfjs registers variables by name process-wide, so at most one Gpt is alive at a time here: every
// test disposes its model (and optimizer) before it ends.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StageError } from '../../src/stage-api/index.ts';
import { AdamW, clipByGlobalNorm, learningRate } from '../../stages/model/adamw.ts';
import { loadBackend } from '../../stages/model/backend.ts';
import { readCheckpointState, readWeights, writeCheckpoint } from '../../stages/model/checkpoint.ts';
import {
  fromHfConfig,
  type GptConfig,
  padVocab,
  parameterCount,
  toHfConfig,
} from '../../stages/model/config.ts';
import { Gpt, initialWeights, parameterShapes } from '../../stages/model/gpt.ts';
import { shardFiles, TokenLoader } from '../../stages/model/loader.ts';
import { Rng } from '../../stages/model/rng.ts';
import { writeNpy } from '../../stages/tokens/npy.ts';

const { tf } = await loadBackend('wasm');

const tmp = mkdtempSync(join(tmpdir(), 'gpt2o-model-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const randomIds = (rng: Rng, count: number, vocab: number) =>
  Int32Array.from({ length: count }, () => Math.floor(rng.next() * vocab));

/** The loss as a number, with every tensor of the forward pass freed. */
const lossValue = (model: Gpt, ids: Int32Array, targets: Int32Array, B: number, T: number) =>
  tf.tidy(() => model.loss(ids, targets, B, T).dataSync()[0]!);

/** Loss and gradients (by parameter name) of `model` on one batch. */
function lossAndGrads(model: Gpt, ids: Int32Array, targets: Int32Array, B: number, T: number) {
  return model.lossAndGrads(ids, targets, B, T);
}

describe('gradients', () => {
  test('every parameter gradient matches central finite differences (directional derivative)', () => {
    const config: GptConfig = { vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8 };
    const rng = new Rng(7);
    // build-nanogpt's init ×10 so gradients are not tiny. LayerNorm gains/biases and the other
    // biases get random values too: with gain 1 and zero biases a gradient that forgot the gain,
    // or that mixed up a bias term, would still come out right.
    const weights = initialWeights(config, 1);
    for (const [name, t] of weights) {
      const noise = rng.normal(t.data.length, 0.1);
      if (name.includes('.ln_')) t.data = t.data.map((x, i) => x + noise[i]!);
      else if (name.endsWith('.bias')) t.data = noise;
      else t.data = t.data.map((x) => x * 10);
    }
    const model = new Gpt(tf, config, weights);
    try {
      const B = 2;
      const T = config.blockSize;
      // 16 ids from 13: repeats, so the embedding's scatter-add of duplicate rows is exercised.
      const ids = randomIds(rng, B * T, config.vocabSize);
      const targets = randomIds(rng, B * T, config.vocabSize);
      const { loss, grads } = lossAndGrads(model, ids, targets, B, T);
      assert.ok(Number.isFinite(loss));
      assert.deepEqual([...grads.keys()].sort(), [...model.params.keys()].sort());

      // Central differences in float32. The error shrinks 4× per halving of h (truncation) down to
      // h ≈ 2.5e-3, where the worst is ~3e-3 relative. Below that the loss's round-off (a few ulps
      // of ~2.8, over 2h) takes over; up to 5e-5 was seen at this h, hence the absolute floor for
      // directions along which the derivative nearly cancels (one seed gave 3e-4).
      const h = 2.5e-3;
      const rtol = 3e-2;
      const atol = 1e-4;
      const rows: string[] = [];
      let worst = 0;
      for (const [name, variable] of model.params) {
        const base = variable.dataSync().slice() as Float32Array;
        const g = grads.get(name)!.dataSync();
        const d = rng.normal(base.length, 1);
        let analytic = 0;
        for (let i = 0; i < d.length; i++) analytic += g[i]! * d[i]!;
        const set = (values: Float32Array) =>
          tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
        const lossAt = (step: number) => {
          set(base.map((x, i) => x + step * d[i]!));
          return lossValue(model, ids, targets, B, T);
        };
        const numeric = (lossAt(h) - lossAt(-h)) / (2 * h);
        set(base);
        const error = Math.abs(numeric - analytic);
        const relative = error / Math.max(Math.abs(numeric), Math.abs(analytic));
        rows.push(`${name}: analytic ${analytic.toExponential(4)}, numeric ${numeric.toExponential(4)}`);
        if (error > atol) worst = Math.max(worst, relative);
        assert.ok(error <= rtol * Math.max(Math.abs(numeric), Math.abs(analytic)) + atol, rows.at(-1));
      }
      tf.dispose([...grads.values()]);
      assert.equal(rows.length, parameterShapes(config).length);
      assert.ok(worst < rtol, `worst relative error ${worst}\n${rows.join('\n')}`);
    } finally {
      model.dispose();
    }
  });
});

describe('training', () => {
  test('a tiny model memorises a periodic token stream with AdamW', () => {
    const config: GptConfig = { vocabSize: 16, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16 };
    const pattern = [3, 11, 7, 0, 14, 5, 9]; // period 7, distinct ids: each token fixes the next
    const B = 4;
    const T = 16;
    const stream = (start: number, count: number) =>
      Int32Array.from({ length: count }, (_, i) => pattern[(start + i) % pattern.length]!);
    const weights = initialWeights(config, 3);
    const model = new Gpt(tf, config, weights);
    const optimizer = new AdamW(weights, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 });
    try {
      const losses: number[] = [];
      for (let step = 0; step < 300; step++) {
        // Each row starts at a different phase of the pattern.
        const ids = new Int32Array(B * T);
        const targets = new Int32Array(B * T);
        for (let b = 0; b < B; b++) {
          const phase = (step * B + b) % pattern.length;
          ids.set(stream(phase, T), b * T);
          targets.set(stream(phase + 1, T), b * T);
        }
        const { loss, grads } = lossAndGrads(model, ids, targets, B, T);
        const host = new Map([...grads].map(([name, g]) => [name, g.dataSync() as Float32Array]));
        tf.dispose([...grads.values()]);
        losses.push(loss);
        if (loss < 0.05) break;
        optimizer.apply(host, 1e-2);
        model.setWeights(weights);
      }
      // N(0, 0.02) weights give near-uniform predictions.
      assert.ok(Math.abs(losses[0]! - Math.log(config.vocabSize)) < 0.05, `initial loss ${losses[0]}`);
      assert.ok(losses.at(-1)! < 0.1, `loss after ${losses.length} steps: ${losses.at(-1)}`);
      assert.equal(optimizer.step, losses.length - 1);
    } finally {
      model.dispose();
    }
  });

  test('attention is causal, and decoding with the KV cache gives the full forward pass logits', () => {
    const config: GptConfig = { vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8 };
    const model = new Gpt(tf, config, initialWeights(config, 5));
    try {
      const rng = new Rng(11);
      const ids = randomIds(rng, 8, config.vocabSize);
      const logits = (x: Int32Array) => tf.tidy(() => model.forward(x, 1, 8).dataSync() as Float32Array);
      const full = logits(ids);
      // Changing token 5 leaves the logits of positions 0..4 as they were, and changes position 5's.
      const changed = ids.slice();
      changed[5] = (ids[5]! + 1) % config.vocabSize;
      const other = logits(changed);
      const V = config.vocabSize;
      assert.deepEqual(other.subarray(0, 5 * V), full.subarray(0, 5 * V));
      assert.notDeepEqual(other.subarray(5 * V, 6 * V), full.subarray(5 * V, 6 * V));

      // Prefill 3 tokens, then one at a time.
      const cache = model.newCache();
      const pieces = [
        tf.tidy(() => model.forward(ids.subarray(0, 3), 1, 3, cache).dataSync() as Float32Array),
      ];
      for (let t = 3; t < 8; t++)
        pieces.push(
          tf.tidy(() => model.forward(ids.subarray(t, t + 1), 1, 1, cache).dataSync() as Float32Array),
        );
      assert.equal(cache.length, 8);
      const cached = Float32Array.from(pieces.flatMap((p) => [...p]));
      for (let i = 0; i < full.length; i++)
        assert.ok(Math.abs(cached[i]! - full[i]!) < 1e-5, `logit ${i}: ${cached[i]} vs ${full[i]}`);
      assert.throws(() => model.forward(ids.subarray(0, 1), 1, 1, cache), RangeError);
      model.disposeCache(cache);
      assert.equal(cache.layers.length, 0);
    } finally {
      model.dispose();
    }
  });
});

describe('checkpoints', () => {
  const config: GptConfig = { vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8 };

  test('saved weights load into a new model that gives bit-identical logits', () => {
    const ids = randomIds(new Rng(1), 2 * 8, config.vocabSize);
    const dir = join(tmp, 'checkpoint');
    const model = new Gpt(tf, config, initialWeights(config, 42));
    let before: Float32Array;
    try {
      before = tf.tidy(() => model.forward(ids, 2, 8).dataSync() as Float32Array);
      const optimizer = new AdamW(model.weights(), { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
      const state = {
        step: 7,
        loader: { shard: 1, offset: 96 },
        elapsed: 1.5,
        metrics: [{ step: 6, loss: 2 }],
        backend: 'wasm',
      };
      writeCheckpoint(dir, { config, weights: model.weights(), optimizer: optimizer.state(), state });
      assert.deepEqual(readCheckpointState(dir), state);
    } finally {
      model.dispose(); // frees the variable names for the next model
    }
    const loaded = new Gpt(tf, config, readWeights(dir));
    try {
      const after = tf.tidy(() => loaded.forward(ids, 2, 8).dataSync() as Float32Array);
      assert.deepEqual(after, before);
    } finally {
      loaded.dispose();
    }
    assert.deepEqual(fromHfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))), config);
  });

  test('model.safetensors is laid out as Hugging Face GPT-2 expects (parsed by hand)', () => {
    const weights = initialWeights(config, 42);
    const dir = join(tmp, 'layout');
    writeCheckpoint(dir, {
      config,
      weights,
      optimizer: new Map(),
      state: { step: 0, loader: { shard: 0, offset: 0 }, elapsed: 0, metrics: [], backend: 'wasm' },
    });
    const bytes = readFileSync(join(dir, 'model.safetensors'));
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const dataStart = 8 + headerLength;
    assert.equal(dataStart % 8, 0, 'data starts 8-byte aligned');
    const header = JSON.parse(bytes.toString('utf8', 8, dataStart)) as Record<
      string,
      { dtype: string; shape: number[]; data_offsets: [number, number] }
    >;
    const { __metadata__: metadata, ...entries } = header;
    assert.deepEqual(metadata, { format: 'pt' });

    const C = config.nEmbd;
    const names = Object.keys(entries);
    assert.deepEqual(
      names.sort(),
      parameterShapes(config)
        .map(([name]) => name)
        .sort(),
    );
    assert.ok(!('lm_head.weight' in entries), 'lm_head is tied to wte and not stored');
    assert.deepEqual(entries['transformer.wte.weight']!.shape, [config.vocabSize, C]);
    assert.deepEqual(entries['transformer.wpe.weight']!.shape, [config.blockSize, C]);
    for (let i = 0; i < config.nLayer; i++) {
      // HF Conv1D layout: [in, out].
      assert.deepEqual(entries[`transformer.h.${i}.attn.c_attn.weight`]!.shape, [C, 3 * C]);
      assert.deepEqual(entries[`transformer.h.${i}.attn.c_attn.bias`]!.shape, [3 * C]);
      assert.deepEqual(entries[`transformer.h.${i}.mlp.c_fc.weight`]!.shape, [C, 4 * C]);
      assert.deepEqual(entries[`transformer.h.${i}.mlp.c_proj.weight`]!.shape, [4 * C, C]);
    }
    // Contiguous F32 data in name order, filling the file exactly.
    const byOffset = Object.entries(entries).sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
    assert.deepEqual(
      byOffset.map(([name]) => name),
      [...names].sort(),
    );
    let offset = 0;
    for (const [name, entry] of byOffset) {
      assert.equal(entry.dtype, 'F32', name);
      assert.equal(entry.data_offsets[0], offset, name);
      offset += 4 * entry.shape.reduce((a, b) => a * b, 1);
      assert.equal(entry.data_offsets[1], offset, name);
      // The bytes are the weights, little-endian.
      const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart + entry.data_offsets[0]);
      const expected = weights.get(name)!.data;
      for (let i = 0; i < expected.length; i++) assert.equal(view.getFloat32(4 * i, true), expected[i], name);
    }
    assert.equal(dataStart + offset, bytes.length);
    assert.equal(parameterCount(config), offset / 4, 'parameterCount counts what is stored');

    const hf = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(hf.model_type, 'gpt2');
    assert.equal(hf.tie_word_embeddings, true);
    assert.equal(hf.activation_function, 'gelu_new');
    assert.deepEqual(fromHfConfig(toHfConfig(config)), config);
    assert.throws(() => fromHfConfig({ ...toHfConfig(config), n_head: 0 }), /n_head/);
    assert.equal(padVocab(50257, 64), 50304);
    assert.equal(padVocab(64, 64), 64);
  });
});

describe('optimizer', () => {
  // torch.optim.AdamW(lr=0.1, betas=(0.9, 0.95), eps=1e-8), weight_decay 0.1 for the 2-D weight and
  // 0 for the bias (build-nanogpt's groups), run in float64 (torch 1.13) on these gradients.
  const lr = 0.1;
  const options = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  const w0 = [0.5, -1.5];
  const b0 = [0.25, -0.75];
  const gw = [
    [0.2, -0.4],
    [-0.1, 0.3],
    [0.05, 0.05],
  ];
  const gb = [
    [1.0, -2.0],
    [0.5, 0.0],
    [-0.25, 1.0],
  ];
  const torchW = [
    [0.395000005, -1.3850000025],
    [0.3642130619, -1.3621858908],
    [0.325902771, -1.3480469189],
  ];
  const torchB = [
    [0.150000001, -0.6500000005],
    [0.0560706954, -0.5821352263],
    [-0.0013306882, -0.5641388627],
  ];

  /** torch's AdamW step by hand, in float64. */
  function handAdamW(p0: number[], grads: number[][], decay: number): number[][] {
    const p = [...p0];
    const m = p.map(() => 0);
    const v = p.map(() => 0);
    const out: number[][] = [];
    grads.forEach((g, index) => {
      const step = index + 1;
      for (let i = 0; i < p.length; i++) {
        p[i]! *= 1 - lr * decay;
        m[i] = options.beta1 * m[i]! + (1 - options.beta1) * g[i]!;
        v[i] = options.beta2 * v[i]! + (1 - options.beta2) * g[i]! ** 2;
        const mHat = m[i]! / (1 - options.beta1 ** step);
        const vHat = v[i]! / (1 - options.beta2 ** step);
        p[i]! -= (lr * mHat) / (Math.sqrt(vHat) + options.eps);
      }
      out.push([...p]);
    });
    return out;
  }

  test('AdamW matches torch.optim.AdamW (decay on 2-D parameters only)', () => {
    // The hand computation and torch agree, and step 1 is p·(1 − lr·wd) − lr·sign(g).
    const handW = handAdamW(w0, gw, options.weightDecay);
    const handB = handAdamW(b0, gb, 0);
    for (let s = 0; s < 3; s++)
      for (let i = 0; i < 2; i++) {
        assert.ok(Math.abs(handW[s]![i]! - torchW[s]![i]!) < 1e-9);
        assert.ok(Math.abs(handB[s]![i]! - torchB[s]![i]!) < 1e-9);
      }
    assert.ok(Math.abs(torchW[0]![0]! - (0.5 * 0.99 - 0.1)) < 1e-8);
    assert.ok(Math.abs(torchB[0]![1]! - (-0.75 + 0.1)) < 1e-8);

    const params = () =>
      new Map([
        ['w', { shape: [1, 2], data: Float32Array.from(w0) }],
        ['b', { shape: [2], data: Float32Array.from(b0) }],
      ]);
    const weights = params();
    const optimizer = new AdamW(weights, options);
    for (let s = 0; s < 3; s++) {
      optimizer.apply(
        new Map([
          ['w', Float32Array.from(gw[s]!)],
          ['b', Float32Array.from(gb[s]!)],
        ]),
        lr,
      );
      const [wNow, bNow] = [weights.get('w')!.data, weights.get('b')!.data];
      for (let i = 0; i < 2; i++) {
        assert.ok(
          Math.abs(wNow[i]! - torchW[s]![i]!) < 1e-6,
          `step ${s + 1} w[${i}]: ${wNow[i]} vs ${torchW[s]![i]}`,
        );
        assert.ok(
          Math.abs(bNow[i]! - torchB[s]![i]!) < 1e-6,
          `step ${s + 1} b[${i}]: ${bNow[i]} vs ${torchB[s]![i]}`,
        );
      }
    }
    assert.equal(optimizer.step, 3);
    const state = optimizer.state();
    assert.deepEqual([...state.keys()].sort(), ['exp_avg.b', 'exp_avg.w', 'exp_avg_sq.b', 'exp_avg_sq.w']);
    assert.deepEqual(state.get('exp_avg.w')!.shape, [1, 2]);
    // exp_avg of the bias after three steps: 0.1·(0.81·g1 + 0.9·g2 + g3).
    const m0 = 0.1 * (0.81 * 1.0 + 0.9 * 0.5 - 0.25);
    assert.ok(Math.abs(state.get('exp_avg.b')!.data[0]! - m0) < 1e-7);

    // Loading the state into a fresh optimizer (over a copy of the weights) continues identically.
    const copy = new Map([...weights].map(([name, w]) => [name, { shape: w.shape, data: w.data.slice() }]));
    const resumed = new AdamW(copy, options);
    resumed.load(
      new Map([...state].map(([name, t]) => [name, { shape: t.shape, data: t.data.slice() }])),
      optimizer.step,
    );
    const g = () =>
      new Map([
        ['w', Float32Array.of(0.3, -0.2)],
        ['b', Float32Array.of(0.1, 0.2)],
      ]);
    optimizer.apply(g(), lr);
    resumed.apply(g(), lr);
    assert.deepEqual(copy.get('w')!.data, weights.get('w')!.data);
    assert.deepEqual(copy.get('b')!.data, weights.get('b')!.data);
  });

  test('clipByGlobalNorm scales all gradients to the max norm as clip_grad_norm_ does', () => {
    const make = () =>
      new Map([
        ['a', Float32Array.of(3, 4)],
        ['c', Float32Array.of(12)],
      ]);
    // Global norm sqrt(9 + 16 + 144) = 13; torch: [1.4999998846, 1.9999998462], [5.9999995385].
    const clipped = make();
    assert.ok(Math.abs(clipByGlobalNorm(clipped, 6.5) - 13) < 1e-5);
    const a = clipped.get('a')!;
    const c = clipped.get('c')!;
    assert.ok(Math.abs(a[0]! - 1.4999998846) < 1e-6 && Math.abs(a[1]! - 1.9999998462) < 1e-6, `${a}`);
    assert.ok(Math.abs(c[0]! - 5.9999995385) < 1e-6, `${c}`);

    for (const maxNorm of [20, 0]) {
      // Under the limit (or no limit): untouched; the norm is still reported.
      const grads = make();
      assert.ok(Math.abs(clipByGlobalNorm(grads, maxNorm) - 13) < 1e-5);
      assert.deepEqual([...grads.get('a')!], [3, 4]);
      assert.deepEqual([...grads.get('c')!], [12]);
    }
  });

  test('learning rate: linear warmup, cosine decay to min_lr at max_steps, then min_lr', () => {
    const s = { maxLr: 6e-4, minLr: 6e-5, warmup: 10, maxSteps: 100 };
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
    close(learningRate(0, s), 6e-5); // max_lr / warmup
    close(learningRate(4, s), 3e-4);
    close(learningRate(9, s), 6e-4);
    close(learningRate(10, s), 6e-4);
    close(learningRate(55, s), (6e-4 + 6e-5) / 2); // half way through the cosine
    close(learningRate(100, s), 6e-5);
    close(learningRate(1000, s), 6e-5);
    for (let step = 10; step < 100; step++) assert.ok(learningRate(step + 1, s) < learningRate(step, s));
  });
});

describe('token loader', () => {
  // Three train shards holding the stream 0, 1, …, 22 (a token's value is its stream position),
  // a val shard, and files that are not shards.
  const dir = join(tmp, 'shards');
  const sizes = [10, 5, 8];
  const total = 23;
  const setUp = () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    let next = 0;
    sizes.forEach((size, i) => {
      const tokens = Uint16Array.from({ length: size }, () => next++);
      writeNpy(join(dir, `train_${String(i).padStart(6, '0')}.npy`), tokens);
    });
    writeNpy(join(dir, 'val_000000.npy'), Uint16Array.from([1000, 1001, 1002]));
    writeFileSync(join(dir, 'train_1.npy'), '');
    writeFileSync(join(dir, 'train_000003.npy.tmp'), '');
  };

  test('shardFiles lists a split in order', () => {
    setUp();
    assert.deepEqual(
      shardFiles(dir, 'train').map((f) => f.slice(dir.length + 1)),
      ['train_000000.npy', 'train_000001.npy', 'train_000002.npy'],
    );
    assert.deepEqual(
      shardFiles(dir, 'val').map((f) => f.slice(dir.length + 1)),
      ['val_000000.npy'],
    );
  });

  test('batches run across shard boundaries and wrap; targets are the inputs shifted by one', () => {
    setUp();
    const B = 2;
    const T = 3;
    const loader = new TokenLoader(shardFiles(dir, 'train'), B, T, total, 'train');
    // 20 batches of 6 (+1) tokens go round the 23-token stream more than five times.
    for (let k = 0; k < 20; k++) {
      const { ids, targets } = loader.next();
      const expectIds = Array.from({ length: B * T }, (_, i) => (k * B * T + i) % total);
      assert.deepEqual([...ids], expectIds, `batch ${k} ids`);
      assert.deepEqual(
        [...targets],
        expectIds.map((t) => (t + 1) % total),
        `batch ${k} targets`,
      );
      const at = ((k + 1) * B * T) % total;
      const shard = at < 10 ? 0 : at < 15 ? 1 : 2;
      assert.deepEqual(
        loader.state,
        { shard, offset: at - [0, 10, 15][shard]! },
        `position after batch ${k}`,
      );
    }
  });

  test('seek(state) reproduces the next batch, in the same loader or a new one', () => {
    setUp();
    const files = shardFiles(dir, 'train');
    const loader = new TokenLoader(files, 2, 4, total, 'train');
    for (let k = 0; k < 3; k++) loader.next();
    const saved = loader.state;
    const expected = loader.next();
    const copy = { ids: [...expected.ids], targets: [...expected.targets] };
    for (let k = 0; k < 4; k++) loader.next();
    loader.seek(saved);
    const again = loader.next();
    assert.deepEqual({ ids: [...again.ids], targets: [...again.targets] }, copy);

    const fresh = new TokenLoader(files, 2, 4, total, 'train');
    fresh.seek(saved);
    const fromFresh = fresh.next();
    assert.deepEqual({ ids: [...fromFresh.ids], targets: [...fromFresh.targets] }, copy);
    fresh.reset();
    assert.deepEqual([...fresh.next().ids], [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('a split smaller than one batch is a StageError naming micro_batch and context_length', () => {
    setUp();
    const files = shardFiles(dir, 'train');
    // 2×11 + 1 = 23 tokens fit exactly; 2×12 + 1 do not.
    const exact = new TokenLoader(files, 2, 11, total, 'train');
    assert.deepEqual([...exact.next().targets].slice(-2), [21, 22]);
    assert.throws(
      () => new TokenLoader(files, 2, 12, total, 'train'),
      (error: unknown) =>
        error instanceof StageError &&
        /micro_batch/.test(`${error.message} ${error.hint}`) &&
        /context_length/.test(`${error.message} ${error.hint}`) &&
        /train split has 23 tokens/.test(error.message),
    );
    assert.throws(() => new TokenLoader([], 1, 1, 0, 'val'), StageError);
  });
});
