// Child process of the training bench (tfjs holds one backend per process): times full training
// steps of the real trainer's parts (gradient engine in process or on worker threads, and the
// optimizer the trainer would use: onnxruntime's clip + AdamW graph, else the host AdamW) for one config on one backend, or sampling with and without the KV cache, or the matrix
// products of one sequence alone (a bound on training speed), and prints one JSON line.
//   node --import tsx bench/train-worker.ts train BACKEND A|B|C|G STEPS WORKERS [MICRO_BATCH]
//     (BACKEND may be onnxruntime; STEPS 0: the warm-up step alone, for its peak RSS)
//   node --import tsx bench/train-worker.ts sample BACKEND NEW_TOKENS   (BACKEND may be onnxruntime)
//   node --import tsx bench/train-worker.ts products BACKEND A|B WORKERS
import { readFileSync } from 'node:fs';
import { AdamW } from '../stages/model/adamw.ts';
import { type BackendChoice, loadBackend, type Tf } from '../stages/model/backend.ts';
import { type Decoder, generate, gptDecoder } from '../stages/model/generate.ts';
import { Gpt, initialWeights } from '../stages/model/gpt.ts';
import { type GradientEngine, InProcessGradients } from '../stages/model/gradients.ts';
import { OrtGradients } from '../stages/model/onnx/ort-engine.ts';
import { OrtModel } from '../stages/model/onnx/ort-model.ts';
import { WorkerGradients } from '../stages/model/worker-gradients.ts';

/**
 * The issue's configs: A (4 layers, 4 heads, 256 wide, context 512, micro-batch 4), B, C (the
 * GPT-2-small shape at context 1024), and G: the original run's model (pipeline.yaml's defaults),
 * for peak memory.
 */
export const CONFIGS = {
  A: { vocabSize: 4104, blockSize: 512, nLayer: 4, nHead: 4, nEmbd: 256, microBatch: 4 },
  B: { vocabSize: 4104, blockSize: 256, nLayer: 2, nHead: 2, nEmbd: 128, microBatch: 8 },
  C: { vocabSize: 4160, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768, microBatch: 1 },
  G: { vocabSize: 16384, blockSize: 2048, nLayer: 12, nHead: 12, nEmbd: 768, microBatch: 8 },
} as const;

/** The process's peak resident memory in MiB (VmHWM), or null off Linux. */
function peakRssMiB(): number | null {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kib ? Number(kib) / 1024 : null;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const [mode, backendName, ...rest] = process.argv.slice(2);
  if (mode === 'train') {
    const c: { -readonly [K in keyof Config]: number } = rest[0]!.startsWith('{')
      ? JSON.parse(rest[0]!) // any config, as JSON (memory measurements)
      : { ...CONFIGS[rest[0] as keyof typeof CONFIGS] };
    const steps = Number(rest[1] ?? 3);
    const workers = Number(rest[2] ?? 1);
    if (rest[3]) c.microBatch = Number(rest[3]);
    const weights = initialWeights(c, 1337);
    let engine: GradientEngine;
    let backend: { name: string; detail: string };
    if (backendName === 'onnxruntime') {
      engine = await OrtGradients.start(c, { device: 'cpu', microBatch: c.microBatch });
      backend = { name: 'onnxruntime', detail: 'cpu' };
    } else {
      const tfjs = await loadBackend(backendName as BackendChoice);
      backend = tfjs;
      engine =
        workers > 1
          ? await WorkerGradients.start(workers, tfjs.name, c, weights)
          : new InProcessGradients(tfjs, c, weights);
    }
    // The trainer's choice: the engine's own optimizer (onnxruntime: a second graph), else the host's.
    const adamw = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const optimizer = (await engine.optimizer?.(weights, adamw)) ?? new AdamW(weights, adamw);
    const B = c.microBatch;
    const T = c.blockSize;
    // One micro-batch per step, as its B sequences (the trainer's unit of work).
    const sequences = Array.from({ length: B }, (_, b) => ({
      ids: Int32Array.from({ length: T }, (_, i) => ((b * T + i) * 7919) % 4098),
      targets: Int32Array.from({ length: T }, (_, i) => ((b * T + i + 1) * 7919) % 4098),
    }));
    let optimizerMs = 0;
    const step = async () => {
      const { grads } = await engine.gradients(weights, sequences, 1 / B);
      const t = performance.now();
      await optimizer.update(grads, 6e-4, 1);
      optimizerMs += performance.now() - t;
    };
    await step(); // warm-up (kernel set-up, first allocations)
    optimizerMs = 0;
    const ort = engine instanceof OrtGradients ? engine : undefined;
    if (ort) {
      Object.assign(ort.times, { feeds: 0, run: 0, accumulate: 0, outputBytes: 0 });
      Object.assign(ort.adamw!.times, { run: 0, outputBytes: 0 });
    }
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await step();
    const ms = steps ? (performance.now() - t0) / steps : Number.NaN;
    // Where an onnxruntime step goes: the step graph, building its feeds, JS around the outputs,
    // the optimizer graph, and the bytes the runs' outputs bring back into JS arrays (on the CPU
    // provider, the only copy: inputs wrap the JS arrays), with what a memcpy of them costs here.
    let split = '';
    if (ort) {
      const per = (x: number) => x / steps;
      const bytes = per(ort.times.outputBytes + ort.adamw!.times.outputBytes);
      split =
        `; per step: step graph ${per(ort.times.run).toFixed(0)} ms, feeds ${per(ort.times.feeds).toFixed(1)} ms, ` +
        `JS around outputs ${per(ort.times.accumulate).toFixed(1)} ms, clip + AdamW graph ${per(optimizerMs).toFixed(0)} ms; ` +
        `outputs copied back ${(bytes / 2 ** 20).toFixed(1)} MiB ≈ ${memcpyMs(bytes).toFixed(1)} ms of memcpy`;
    } else split = `; per step: clip + AdamW (JS) ${(optimizerMs / Math.max(1, steps)).toFixed(0)} ms`;
    await engine.dispose();
    process.stdout.write(
      `${JSON.stringify({ backend: backend.name, detail: `${backend.detail}; ${engine.description}${split}`, stepMs: ms, tokensPerSec: (B * T * 1000) / ms, microBatch: B, peakRssMiB: peakRssMiB() })}\n`,
    );
    return;
  }
  if (mode === 'sample') {
    await sample(backendName!, Number(rest[0] ?? 128));
    return;
  }
  const backend = await loadBackend(backendName as BackendChoice);
  const { tf } = backend;
  if (mode === 'products') {
    const c = CONFIGS[rest[0] as keyof typeof CONFIGS];
    const ms = productsMs(tf, c);
    const workers = Number(rest[1] ?? 1);
    process.stdout.write(
      `${JSON.stringify({ backend: backend.name, sequenceMs: ms, tokensPerSec: (workers * c.blockSize * 1000) / ms, gflops: (productFlops(c) / ms) * 1e-6 })}\n`,
    );
    return;
  }
  throw new Error(`unknown mode ${mode}`);
}

/** Sampling: config B, one sequence, a 64-token prompt, with and without the KV cache. */
async function sample(backendName: string, newTokens: number): Promise<void> {
  const c = CONFIGS.B;
  const weights = initialWeights(c, 1337);
  let decoder: Decoder;
  let detail: string;
  if (backendName === 'onnxruntime') {
    const model = await OrtModel.start(c, weights, { device: 'cpu' });
    decoder = model.decoder();
    detail = model.description;
  } else {
    const backend = await loadBackend(backendName as BackendChoice);
    decoder = gptDecoder(new Gpt(backend.tf, c, weights));
    detail = backend.detail;
  }
  const prompt = Int32Array.from({ length: 64 }, (_, i) => (i * 31) % 4098);
  const rate = async (kvCache: boolean) => {
    const options = { count: 1, maxNewTokens: newTokens, temperature: 1, topK: 0, topP: 1, seed: 1, kvCache };
    await generate(decoder, prompt, { ...options, maxNewTokens: 4 }); // warm-up
    const t0 = performance.now();
    await generate(decoder, prompt, options);
    return (newTokens * 1000) / (performance.now() - t0);
  };
  const cached = await rate(true);
  const uncached = await rate(false);
  process.stdout.write(`${JSON.stringify({ backend: backendName, detail, cached, uncached })}\n`);
}

type Config = (typeof CONFIGS)[keyof typeof CONFIGS];

/** Milliseconds a JS copy of `bytes` takes here (median of 5): what the outputs' copy costs. */
function memcpyMs(bytes: number): number {
  const from = new Float32Array(Math.ceil(bytes / 4)).fill(1);
  const to = new Float32Array(from.length);
  const times = Array.from({ length: 5 }, () => {
    const t0 = performance.now();
    to.set(from);
    return performance.now() - t0;
  }).sort((a, b) => a - b);
  return times[2]!;
}

/**
 * The matrix products of one sequence's forward and backward pass, [m, k] × [k, n] each, in the
 * shapes ops.ts gives them (every product a plain 2-D one of explicitly transposed operands). For
 * Y = X·W the backward adds dX = dY·Wᵀ ([m, n] × [n, k]) and dW = Xᵀ·dY ([k, m] × [m, n]).
 */
function products(c: Config): [number, number, number][] {
  const T = c.blockSize;
  const C = c.nEmbd;
  const hd = C / c.nHead;
  const forward: [number, number, number][] = [];
  for (let l = 0; l < c.nLayer; l++) {
    forward.push([T, C, 3 * C]); // c_attn
    for (let h = 0; h < c.nHead; h++) forward.push([T, hd, T], [T, T, hd]); // q·kᵀ, att·v
    forward.push([T, C, C], [T, C, 4 * C], [T, 4 * C, C]); // c_proj, c_fc, mlp c_proj
  }
  forward.push([T, C, c.vocabSize]); // lm_head (tied to wte)
  return forward.flatMap(([m, k, n]) => [
    [m, k, n],
    [m, n, k],
    [k, m, n],
  ]);
}

function productFlops(c: Config): number {
  return products(c).reduce((sum, [m, k, n]) => sum + 2 * m * k * n, 0);
}

/**
 * Milliseconds that the products of one sequence take alone on this thread (median of 5 passes):
 * a bound on the trainer's speed, since everything else (softmax, LayerNorm, GELU, transposes,
 * AdamW, messages) takes time on top.
 */
function productsMs(tf: Tf, c: Config): number {
  const shapes = products(c);
  const operands = shapes.map(([m, k, n]) => [tf.randomNormal([m, k]), tf.randomNormal([k, n])] as const);
  const pass = () => {
    const t0 = performance.now();
    for (const [a, b] of operands) {
      const y = tf.matMul(a, b);
      y.dataSync();
      y.dispose();
    }
    return performance.now() - t0;
  };
  pass(); // warm-up
  const times = Array.from({ length: 5 }, pass).sort((x, y) => x - y);
  for (const pair of operands) for (const t of pair) t.dispose();
  return times[2]!;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
