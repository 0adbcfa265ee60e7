// Child process of the training bench (tfjs holds one backend per process): times full training
// steps of the real model code (forward, backward, clipping, AdamW) for one config on one backend,
// or sampling with and without the KV cache, and prints one JSON line.
//   node --import tsx bench/train-worker.ts train BACKEND A|B STEPS
//   node --import tsx bench/train-worker.ts sample BACKEND NEW_TOKENS
import { AdamW, clipByGlobalNorm } from '../stages/model/adamw.ts';
import { type BackendChoice, loadBackend } from '../stages/model/backend.ts';
import { generate } from '../stages/model/generate.ts';
import { Gpt, initialWeights } from '../stages/model/gpt.ts';

/** The configs: A (4 layers, 4 heads, 256 wide, context 512, micro-batch 4) and B. */
export const CONFIGS = {
  A: { vocabSize: 4104, blockSize: 512, nLayer: 4, nHead: 4, nEmbd: 256, microBatch: 4 },
  B: { vocabSize: 4104, blockSize: 256, nLayer: 2, nHead: 2, nEmbd: 128, microBatch: 8 },
} as const;

async function main(): Promise<void> {
  const [mode, backendName, ...rest] = process.argv.slice(2);
  const backend = await loadBackend(backendName as BackendChoice);
  const { tf } = backend;
  if (mode === 'train') {
    const c = CONFIGS[rest[0] as 'A' | 'B'];
    const steps = Number(rest[1] ?? 3);
    const model = new Gpt(tf, c, initialWeights(c, 1337));
    const optimizer = new AdamW(tf, model.params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
    const B = c.microBatch;
    const T = c.blockSize;
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % 4098);
    const targets = Int32Array.from({ length: B * T }, (_, i) => ((i + 1) * 7919) % 4098);
    const step = () => {
      const { grads } = model.lossAndGrads(ids, targets, B, T);
      clipByGlobalNorm(tf, grads, 1);
      optimizer.apply(grads, 6e-4);
    };
    step(); // warm-up (kernel set-up, first allocations)
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step();
    const ms = (performance.now() - t0) / steps;
    process.stdout.write(
      `${JSON.stringify({ backend: backend.name, detail: backend.detail, stepMs: ms, tokensPerSec: (B * T * 1000) / ms })}\n`,
    );
    return;
  }
  // Sampling: config B, one sequence, a 64-token prompt.
  const c = CONFIGS.B;
  const model = new Gpt(tf, c, initialWeights(c, 1337));
  const newTokens = Number(rest[0] ?? 128);
  const prompt = Int32Array.from({ length: 64 }, (_, i) => (i * 31) % 4098);
  const rate = async (kvCache: boolean) => {
    const options = { count: 1, maxNewTokens: newTokens, temperature: 1, topK: 0, topP: 1, seed: 1, kvCache };
    await generate(model, prompt, { ...options, maxNewTokens: 4 }); // warm-up
    const t0 = performance.now();
    await generate(model, prompt, options);
    return (newTokens * 1000) / (performance.now() - t0);
  };
  const cached = await rate(true);
  const uncached = await rate(false);
  process.stdout.write(`${JSON.stringify({ backend: backend.name, cached, uncached })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
