// The ONNX Runtime trainer against an independent PyTorch GPT-2 (scripts/torch_gpt2.py
// train-curve) on the bench's config B: both start from the same HF safetensors checkpoint and
// train on the same sequences (written to one .npy both read, in the trainer's loader order) with
// the same schedule, clipping, AdamW and accumulation; the 20 losses and grad norms agree within
// 1e-3. Runs where /usr/bin/python3 has torch, and says SKIPPED elsewhere.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readCheckpointState } from '../../stages/model/checkpoint.ts';
import { toHfConfig } from '../../stages/model/config.ts';
import { initialWeights } from '../../stages/model/gpt.ts';
import { readInitWeights } from '../../stages/model/init-from.ts';
import { shardFiles, TokenLoader } from '../../stages/model/loader.ts';
import { OrtGradients } from '../../stages/model/onnx/ort-engine.ts';
import { Rng } from '../../stages/model/rng.ts';
import { writeSafetensors } from '../../stages/model/safetensors.ts';
import { type TrainSettings, train } from '../../stages/model/trainer.ts';
import { writeNpy } from '../../stages/tokens/npy.ts';
import { REPO } from '../helpers/workspace.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gpt2o-torch-train-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** bench/train-worker.ts's config B (2 layers, 2 heads, 128 wide, context 256, micro-batch 8). */
const settings: TrainSettings = {
  config: { vocabSize: 4104, blockSize: 256, nLayer: 2, nHead: 2, nEmbd: 128 },
  microBatch: 8,
  contextLength: 256,
  totalBatch: 2 * 8 * 256, // two micro-batches per step
  maxSteps: 20,
  warmupSteps: 5,
  maxLr: 3e-3,
  minLr: 3e-4,
  weightDecay: 0.1,
  gradClip: 1,
  seed: 1,
  evalInterval: 1000,
  evalSteps: 0, // no val loss: the curve under test is the training loss
  checkpointInterval: 1000,
};
const ACCUMULATION = settings.totalBatch / (settings.microBatch * settings.contextLength);

function torchVersion(): string | undefined {
  try {
    return execFileSync('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__)'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

test('PyTorch and onnxruntime give the same loss curve within 1e-3 over 20 steps of config B', async (t) => {
  const version = torchVersion();
  if (!version) {
    t.skip('SKIPPED: /usr/bin/python3 with torch is not installed (apt-get install python3-torch)');
    return;
  }
  const { config, microBatch: B, contextLength: T, maxSteps } = settings;
  // A stream with structure (a periodic walk over 64 ids, 20% noise), so the loss falls.
  const rng = new Rng(5);
  const count = maxSteps * ACCUMULATION * B * T + 1;
  const stream = Uint16Array.from({ length: count }, (_, i) =>
    rng.next() < 0.8 ? (i * 11) % 64 : Math.floor(rng.next() * config.vocabSize),
  );
  const shards = join(tmp, 'shards');
  mkdirSync(shards);
  writeNpy(join(shards, 'train_000000.npy'), stream);

  // The start: build-nanogpt's init from another seed, as an HF checkpoint folder both read.
  const init = join(tmp, 'init');
  mkdirSync(init);
  writeSafetensors(join(init, 'model.safetensors'), initialWeights(config, 77), { format: 'pt' });
  writeFileSync(join(init, 'config.json'), JSON.stringify(toHfConfig(config)));

  // Every sequence of the run in the trainer's order: steps × accumulation × B rows of T+1 tokens.
  const loader = new TokenLoader(shardFiles(shards, 'train'), B, T, count, 'train');
  const rows = new Uint16Array(maxSteps * ACCUMULATION * B * (T + 1));
  for (let batch = 0; batch < maxSteps * ACCUMULATION; batch++) {
    const { ids, targets } = loader.next();
    for (let b = 0; b < B; b++) {
      const row = rows.subarray((batch * B + b) * (T + 1), (batch * B + b + 1) * (T + 1));
      row.set(ids.subarray(b * T, (b + 1) * T));
      row[T] = targets[(b + 1) * T - 1]!;
    }
  }
  const batches = join(tmp, 'batches.npy');
  writeNpy(batches, rows);

  const outDir = join(tmp, 'ours');
  mkdirSync(join(tmp, 'resume'));
  await train(settings, {
    backend: { name: 'onnxruntime', detail: 'test' },
    initialWeights: readInitWeights(config, join(init, 'model.safetensors'), 'init'),
    engine: () => OrtGradients.start(config, { device: 'cpu', microBatch: B }),
    train: { files: shardFiles(shards, 'train'), tokens: count },
    val: { files: shardFiles(shards, 'train'), tokens: 0 },
    resumeDir: join(tmp, 'resume'),
    outDir,
    log: () => {},
    progress: () => {},
    signal: new AbortController().signal,
  });
  const ours = readCheckpointState(outDir).metrics as Record<string, number>[];

  const out = execFileSync(
    '/usr/bin/python3',
    [
      `${REPO}/scripts/torch_gpt2.py`,
      'train-curve',
      ...['--checkpoint', init, '--batches', batches],
      ...['--steps', String(maxSteps), '--accumulation', String(ACCUMULATION)],
      ...['--micro-batch', String(B), '--context', String(T)],
      ...['--max-lr', String(settings.maxLr), '--min-lr', String(settings.minLr)],
      ...['--warmup', String(settings.warmupSteps), '--max-steps', String(settings.maxSteps)],
      ...['--weight-decay', String(settings.weightDecay), '--grad-clip', String(settings.gradClip)],
    ],
    { encoding: 'utf8' },
  );
  const theirs = JSON.parse(out).steps as Record<string, number>[];
  assert.equal(ours.length, maxSteps);
  assert.equal(theirs.length, maxSteps);
  const worst = { loss: 0, grad_norm: 0 };
  ours.forEach((line, i) => {
    const other = theirs[i]!;
    assert.equal(line.step, other.step);
    assert.ok(Math.abs(line.lr! - other.lr!) < 1e-12, `lr at step ${i}: ${line.lr} vs ${other.lr}`);
    for (const key of ['loss', 'grad_norm'] as const) {
      const diff = Math.abs(line[key]! - other[key]!);
      worst[key] = Math.max(worst[key], diff);
      assert.ok(diff < 1e-3, `${key} at step ${i}: ours ${line[key]} vs torch ${other[key]}`);
    }
  });
  t.diagnostic(
    `torch ${version}: losses ${theirs[0]!.loss!.toFixed(4)} → ${theirs.at(-1)!.loss!.toFixed(4)}; ` +
      `largest difference: loss ${worst.loss.toExponential(2)}, grad norm ${worst.grad_norm.toExponential(2)}`,
  );
  // The curve moved: a run that does not learn would agree trivially.
  assert.ok(ours.at(-1)!.loss! < ours[0]!.loss! - 1, `losses ${ours.map((l) => l.loss)}`);
});
