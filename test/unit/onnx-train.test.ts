// The trainer (stages/model/trainer.ts) on the ONNX Runtime engine, against the tfjs wasm engine
// on the same tiny shards: the same initial weights (initialWeights, the tfjs model's init) and the
// same batches give the same losses within 1e-4 for 20 steps with accumulation, clipping and AdamW;
// two ONNX Runtime runs give the same bytes; an interrupted run resumes to them; train.device cuda
// without the CUDA execution provider is a StageError showing the install command.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { StageError } from '../../src/stage-api/index.ts';
import { loadBackend } from '../../stages/model/backend.ts';
import { readCheckpointState, readWeights } from '../../stages/model/checkpoint.ts';
import { initialWeights } from '../../stages/model/gpt.ts';
import { type GradientEngine, InProcessGradients, Interrupted } from '../../stages/model/gradients.ts';
import { shardFiles } from '../../stages/model/loader.ts';
import { OrtGradients } from '../../stages/model/onnx/ort-engine.ts';
import { Rng } from '../../stages/model/rng.ts';
import { type TrainIo, type TrainSettings, train } from '../../stages/model/trainer.ts';
import { writeNpy } from '../../stages/tokens/npy.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gpt2o-onnx-train-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const shards = join(tmp, 'shards');
mkdirSync(shards);
const rng = new Rng(9);
// A periodic stream with noise: something to learn, so the losses move over 20 steps.
const tokens = (count: number) =>
  Uint16Array.from({ length: count }, (_, i) =>
    rng.next() < 0.8 ? (i * 5) % 16 : Math.floor(rng.next() * 16),
  );
writeNpy(join(shards, 'train_000000.npy'), tokens(300));
writeNpy(join(shards, 'train_000001.npy'), tokens(200));
writeNpy(join(shards, 'val_000000.npy'), tokens(60));

const settings: TrainSettings = {
  config: { vocabSize: 16, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16 },
  microBatch: 2,
  contextLength: 8,
  totalBatch: 32, // two micro-batches per step
  maxSteps: 20,
  warmupSteps: 3,
  maxLr: 1e-2,
  minLr: 1e-3,
  weightDecay: 0.1,
  gradClip: 1,
  seed: 1,
  evalInterval: 5,
  evalSteps: 2,
  checkpointInterval: 8,
};

let runs = 0;
function io(
  engine: 'onnxruntime' | 'wasm',
  options: { resumeDir?: string; controller?: AbortController; onProgress?: (done: number) => void } = {},
): TrainIo {
  const dir = join(tmp, `run-${runs++}`);
  const resumeDir = options.resumeDir ?? join(dir, 'resume');
  mkdirSync(resumeDir, { recursive: true });
  return {
    backend: { name: engine, detail: 'test' },
    engine: async (weights): Promise<GradientEngine> =>
      engine === 'wasm'
        ? new InProcessGradients(await loadBackend('wasm'), settings.config, weights)
        : OrtGradients.start(settings.config, { device: 'cpu', microBatch: settings.microBatch }),
    train: { files: shardFiles(shards, 'train'), tokens: 500 },
    val: { files: shardFiles(shards, 'val'), tokens: 60 },
    resumeDir,
    outDir: join(dir, 'out'),
    log: () => {},
    progress: (p) => options.onProgress?.(p.done),
    signal: (options.controller ?? new AbortController()).signal,
  };
}

type Line = Record<string, number>;
const metricsOf = (outDir: string) => readCheckpointState(outDir).metrics as Line[];
const untimed = (metrics: Line[]) =>
  metrics.map(({ elapsed: _e, tokens_per_sec: _t, tensors: _n, ...rest }) => rest);

test('onnxruntime and tfjs wasm give the same losses within 1e-4 over 20 steps', async () => {
  const wasm = io('wasm');
  const ort = io('onnxruntime');
  await train(settings, wasm);
  await train(settings, ort);
  const a = metricsOf(wasm.outDir);
  const b = metricsOf(ort.outDir);
  assert.equal(a.length, b.length);
  const losses = (m: Line[]) => m.filter((l) => 'loss' in l).map((l) => l.loss!);
  assert.equal(losses(a).length, 20);
  a.forEach((line, i) => {
    for (const key of ['loss', 'val_loss', 'grad_norm'] as const)
      if (key in line)
        assert.ok(
          Math.abs(line[key]! - b[i]![key]!) < 1e-4,
          `${key} at step ${line.step}: ${line[key]} vs ${b[i]![key]}`,
        );
  });
  // It learned something, the same on both.
  assert.ok(losses(b).at(-1)! < losses(b)[0]! - 0.5, `losses ${losses(b)}`);
  const wa = readWeights(wasm.outDir);
  for (const [name, t] of readWeights(ort.outDir)) {
    const other = wa.get(name)!.data;
    for (let i = 0; i < t.data.length; i++)
      assert.ok(Math.abs(t.data[i]! - other[i]!) < 1e-3, `${name}[${i}]`);
  }
});

test('two onnxruntime runs give identical metrics and model bytes; an interrupted run resumes to them', async () => {
  const first = io('onnxruntime');
  await train(settings, first);
  const second = io('onnxruntime');
  await train(settings, second);
  const bytes = readFileSync(join(first.outDir, 'model.safetensors'));
  assert.deepEqual(untimed(metricsOf(first.outDir)), untimed(metricsOf(second.outDir)));
  assert.ok(bytes.equals(readFileSync(join(second.outDir, 'model.safetensors'))));

  const controller = new AbortController();
  const interrupted = io('onnxruntime', {
    controller,
    onProgress: (done) => done === 11 && controller.abort(),
  });
  await assert.rejects(train(settings, interrupted), Interrupted);
  assert.deepEqual(readdirSync(interrupted.resumeDir), ['step_00000011']);
  const resumed = io('onnxruntime', { resumeDir: interrupted.resumeDir });
  const summary = await train(settings, resumed);
  assert.equal(summary.resumed_from, 11);
  assert.deepEqual(untimed(metricsOf(resumed.outDir)), untimed(metricsOf(first.outDir)));
  assert.ok(bytes.equals(readFileSync(join(resumed.outDir, 'model.safetensors'))));
});

test('device cuda without the CUDA execution provider is a StageError with the install command', async () => {
  await assert.rejects(
    OrtGradients.start(settings.config, { device: 'cuda', microBatch: 2 }),
    (error: unknown) =>
      error instanceof StageError &&
      /CUDA execution provider is not installed/.test(error.message) &&
      /libonnxruntime_providers_cuda\.so/.test(error.message) &&
      (error.hint ?? '').includes('ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node'),
  );
});

test('the step gradients are the same bytes run after run when token ids repeat (2 threads)', async () => {
  // Wide enough that ORT splits the embedding's scatter-add over threads: 4096 positions of 64
  // ids, each id seen ~64 times. ScatterND(add) lost some of those sums at random.
  const config = { vocabSize: 4104, blockSize: 256, nLayer: 1, nHead: 2, nEmbd: 128 };
  const weights = initialWeights(config, 3);
  const sequences = Array.from({ length: 8 }, (_, b) => ({
    ids: Int32Array.from({ length: 256 }, (_, t) => (b * 7 + t * 13) % 64),
    targets: Int32Array.from({ length: 256 }, (_, t) => (b * 5 + t * 3) % 64),
  }));
  const engine = await OrtGradients.start(config, { device: 'cpu', microBatch: 8, threads: 2 });
  try {
    const digests = new Set<string>();
    for (let run = 0; run < 12; run++) {
      const { grads } = await engine.gradients(weights, sequences, 1 / 8);
      const wte = grads.get('transformer.wte.weight')!;
      digests.add(
        createHash('sha256')
          .update(new Uint8Array(wte.buffer, wte.byteOffset, wte.byteLength))
          .digest('hex'),
      );
      // Garbage between runs, as a trainer makes: the lost sums showed up more under it.
      Array.from({ length: 40 }, () => new Float32Array(100_000).fill(run));
    }
    assert.equal(digests.size, 1, `${digests.size} different wte gradients in 12 runs`);
  } finally {
    await engine.dispose();
  }
});
