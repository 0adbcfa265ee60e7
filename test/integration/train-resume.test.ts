// Resume: a `train` killed with SIGKILL mid-run continues from its last checkpoint when the same
// experiment is rerun, and ends with exactly the weights and final loss of an uninterrupted run.
// On onnxruntime (what auto runs) and on wasm (the tfjs engine).
// Runs the real binary (npm test builds it first) on shards a `cmd:` stage copies in.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeNpy } from '../../stages/tokens/npy.ts';
import { execCli, makeWorkspace, spawnCli, type Workspace } from '../helpers/workspace.ts';

const pipeline = (backend: string) => `stages:
  shards:
    cmd: cp data/meta.json data/train_000000.npy data/val_000000.npy .
    deps: [data]
    outs: [meta.json, train_000000.npy, val_000000.npy]
  train:
    uses: train
    needs: {shards: shards}
    with:
      n_layer: 2
      n_head: 2
      n_embd: 32
      vocab_size: null
      context_length: 32
      micro_batch: 2
      total_batch: 128
      max_steps: 150
      max_lr: 0.01
      eval_interval: 50
      eval_steps: 1
      checkpoint_interval: 5
      backend: ${backend}
`;

/** A gpt2o-layout stream: frames of a separator and seven codes drawn from a small repeating set. */
function writeShards(ws: Workspace): void {
  const frames = (n: number, seed: number) =>
    Uint16Array.from({ length: n * 8 }, (_, i) =>
      i % 8 === 0 ? 4097 : (seed + i * 37 + ((i / 8) | 0) * 11) % 97,
    );
  const train = frames(400, 1);
  const val = frames(40, 2);
  writeNpy(ws.path('data/train_000000.npy'), train);
  writeNpy(ws.path('data/val_000000.npy'), val);
  const meta = {
    layout: 'gpt2o',
    vocab_size: 4098,
    codebook_size: 4096,
    tokens_per_frame: 8,
    sample_rate: 24000,
    train: { tokens: train.length },
    val: { tokens: val.length },
  };
  writeFileSync(ws.path('data/meta.json'), JSON.stringify(meta));
}

function workspace(backend: string): Workspace {
  const ws = makeWorkspace({ 'pipeline.yaml': pipeline(backend), 'data/.keep': '' });
  writeShards(ws);
  return ws;
}

/** The newest resume checkpoint's step, or -1. */
function checkpointStep(ws: Workspace): number {
  const root = ws.path('cache/resume');
  if (!existsSync(root)) return -1;
  let best = -1;
  for (const key of readdirSync(root))
    for (const name of readdirSync(join(root, key))) {
      const m = /^step_(\d+)$/.exec(name);
      if (m) best = Math.max(best, Number(m[1]));
    }
  return best;
}

// onnxruntime: what auto runs; wasm: the tfjs engine.
for (const backend of ['onnxruntime', 'wasm'])
  test(`train on ${backend} killed with SIGKILL resumes from its checkpoint and ends where an uninterrupted run ends`, async () => {
    const killed = workspace(backend);
    const clean = workspace(backend);
    try {
      // Kill once a checkpoint at step ≥ 20 exists (of 150 steps).
      const child = spawnCli(killed.dir, ['run']);
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      for (let i = 0; i < 3000 && checkpointStep(killed) < 20; i++) {
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const killedAt = checkpointStep(killed);
      child.kill('SIGKILL');
      await exited;
      assert.ok(killedAt >= 20 && killedAt < 150, `killed after checkpoint ${killedAt}\n${output}`);

      const resumed = await execCli(killed.dir, ['run']);
      assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
      const log = readFileSync(killed.path('runs/pipeline/train/summary.json'), 'utf8');
      const summary = JSON.parse(log);
      assert.ok(
        summary.resumed_from >= killedAt,
        `resumed from ${summary.resumed_from}, checkpoint was ${killedAt}`,
      );
      assert.ok(
        !existsSync(killed.path('cache/resume')) || checkpointStep(killed) === -1,
        'resume folder cleaned up',
      );

      const full = await execCli(clean.dir, ['run']);
      assert.equal(full.code, 0, full.stdout + full.stderr);
      const reference = JSON.parse(readFileSync(clean.path('runs/pipeline/train/summary.json'), 'utf8'));
      assert.equal(reference.resumed_from, 0);
      assert.equal(summary.final_loss, reference.final_loss);
      assert.ok(reference.final_loss < 1, `the pattern is learnable: final loss ${reference.final_loss}`);
      const a = readFileSync(killed.path('runs/pipeline/train/model.safetensors'));
      const b = readFileSync(clean.path('runs/pipeline/train/model.safetensors'));
      assert.ok(a.equals(b), 'final weights are bitwise identical');
      // The metrics of the resumed run cover every step once.
      const steps = readFileSync(killed.path('runs/pipeline/train/metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((l) => 'loss' in l)
        .map((l) => l.step);
      assert.deepEqual(steps, [...Array(150).keys()]);

      // A kill between train's commit and the removal of its resume folder leaves checkpoints of a
      // committed key (the chaos sweep hit it). `status` leaves them; the next run that is served
      // the key removes them.
      const status = await execCli(clean.dir, ['status', '--json']);
      const trainKey = JSON.parse(status.stdout).experiments[0].stages.find(
        (s: { name: string }) => s.name === 'train',
      ).key as string;
      const leftover = clean.path(`cache/resume/${trainKey}/step_000005`);
      mkdirSync(leftover, { recursive: true });
      writeFileSync(join(leftover, 'model.safetensors'), 'left by a killed run');
      assert.equal((await execCli(clean.dir, ['status'])).code, 0);
      assert.ok(existsSync(leftover), 'status changes nothing');
      const again = await execCli(clean.dir, ['run', '--json']);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      const stages = JSON.parse(again.stdout).stages as { name: string; status: string }[];
      assert.equal(stages.find((s) => s.name === 'train')?.status, 'cached');
      assert.ok(!existsSync(clean.path(`cache/resume/${trainKey}`)), 'the leftover checkpoints are removed');
    } finally {
      killed.remove();
      clean.remove();
    }
  });
