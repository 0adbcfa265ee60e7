// The model stage's training loop (stages/model/trainer.ts) end to end on the wasm backend, with a
// tiny model on tiny .npy shards in a temp folder: memory stays flat from step to step, two runs
// of the same settings agree exactly, and a run interrupted after step k resumes from its resume
// checkpoint to exactly the result of the uninterrupted run (same losses, same model bytes).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { StageError } from '../../src/stage-api/index.ts';
import { loadBackend } from '../../stages/model/backend.ts';
import { readCheckpointState } from '../../stages/model/checkpoint.ts';
import { type GradientEngine, InProcessGradients, Interrupted } from '../../stages/model/gradients.ts';
import { shardFiles } from '../../stages/model/loader.ts';
import { Rng } from '../../stages/model/rng.ts';
import { type TrainIo, type TrainSettings, train } from '../../stages/model/trainer.ts';
import { WorkerGradients } from '../../stages/model/worker-gradients.ts';
import { writeNpy } from '../../stages/tokens/npy.ts';

const backend = await loadBackend('wasm');
const { tf } = backend;

const tmp = mkdtempSync(join(tmpdir(), 'gpt2o-train-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// Train: two shards (100 + 60 tokens; six steps of 32 tokens wrap around them). Val: 40 tokens.
const shards = join(tmp, 'shards');
mkdirSync(shards);
const rng = new Rng(5);
const tokens = (count: number) => Uint16Array.from({ length: count }, () => Math.floor(rng.next() * 16));
writeNpy(join(shards, 'train_000000.npy'), tokens(100));
writeNpy(join(shards, 'train_000001.npy'), tokens(60));
writeNpy(join(shards, 'val_000000.npy'), tokens(40));

const settings: TrainSettings = {
  config: { vocabSize: 16, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8 },
  microBatch: 2,
  contextLength: 8,
  totalBatch: 32, // two micro-batches per step: gradient accumulation runs
  maxSteps: 6,
  warmupSteps: 2,
  maxLr: 1e-2,
  minLr: 1e-3,
  weightDecay: 0.1,
  gradClip: 1,
  seed: 1,
  evalInterval: 2,
  evalSteps: 1,
  checkpointInterval: 4,
};

let runs = 0;
/** A run's io with fresh resume/out folders unless given; `onProgress` sees each step's progress. */
function io(
  options: {
    resumeDir?: string;
    controller?: AbortController;
    onProgress?: (done: number) => void;
    /** Wraps the engine (e.g. to interrupt inside a step). */
    wrap?: (engine: GradientEngine) => GradientEngine;
    workers?: number;
  } = {},
) {
  const dir = join(tmp, `run-${runs++}`);
  const resumeDir = options.resumeDir ?? join(dir, 'resume');
  mkdirSync(resumeDir, { recursive: true });
  const controller = options.controller ?? new AbortController();
  const value: TrainIo = {
    backend,
    engine: async (weights) => {
      const engine = options.workers
        ? await WorkerGradients.start(options.workers, 'wasm', settings.config, weights)
        : new InProcessGradients(backend, settings.config, weights);
      return options.wrap ? options.wrap(engine) : engine;
    },
    train: { files: shardFiles(shards, 'train'), tokens: 160 },
    val: { files: shardFiles(shards, 'val'), tokens: 40 },
    resumeDir,
    outDir: join(dir, 'out'),
    log: () => {},
    progress: (p) => options.onProgress?.(p.done),
    signal: controller.signal,
  };
  return value;
}

type Line = Record<string, number>;
const metricsOf = (outDir: string) => readCheckpointState(outDir).metrics as Line[];
const trainLines = (metrics: Line[]) => metrics.filter((m) => 'loss' in m);
/** The metrics without wall-clock fields, which differ from run to run. */
const untimed = (metrics: Line[]) =>
  metrics.map(({ elapsed: _e, tokens_per_sec: _t, tensors: _n, ...rest }) => rest);

test('memory stays flat: the same live tensors after every step, nothing left after', async () => {
  const before = tf.memory().numTensors;
  const run = io();
  const summary = await train(settings, run);
  const leftAfter = tf.memory().numTensors - before;

  const lines = trainLines(metricsOf(run.outDir));
  assert.deepEqual(
    lines.map((m) => m.step),
    [0, 1, 2, 3, 4, 5],
  );
  const counts = lines.map((m) => m.tensors);
  assert.ok(
    counts.every((n) => n === counts[0]),
    `live tensors per step: ${counts}`,
  );
  assert.ok(lines.every((m) => Number.isFinite(m.loss) && Number.isFinite(m.grad_norm)));
  assert.equal(summary.steps, 6);
  assert.equal(summary.resumed_from, 0);
  assert.equal(summary.final_loss, lines.at(-1)!.loss);
  assert.equal(summary.backend, 'wasm');
  // The model, its causal mask and the optimizer are all freed.
  assert.equal(leftAfter, 0, `tensors left after train(): ${leftAfter}`);
});

test('two runs with the same settings give identical losses and identical model bytes', async () => {
  const first = io();
  const second = io();
  const a = await train(settings, first);
  const b = await train(settings, second);
  assert.equal(a.final_loss, b.final_loss);
  assert.deepEqual(untimed(metricsOf(first.outDir)), untimed(metricsOf(second.outDir)));
  assert.ok(
    readFileSync(join(first.outDir, 'model.safetensors')).equals(
      readFileSync(join(second.outDir, 'model.safetensors')),
    ),
  );
  // Loss goes down over six steps on random tokens (sanity: the optimizer is wired in).
  const losses = trainLines(metricsOf(first.outDir)).map((m) => m.loss);
  assert.ok(losses.at(-1)! < losses[0]!, `losses ${losses}`);
});

test('worker threads give bit-for-bit the result of the in-process engine', async () => {
  const inProcess = io();
  const threaded = io({ workers: 2 });
  const a = await train(settings, inProcess);
  const b = await train(settings, threaded);
  assert.equal(a.final_loss, b.final_loss);
  assert.match(b.backend_detail, /2 worker threads/);
  assert.deepEqual(untimed(metricsOf(inProcess.outDir)), untimed(metricsOf(threaded.outDir)));
  assert.ok(
    readFileSync(join(inProcess.outDir, 'model.safetensors')).equals(
      readFileSync(join(threaded.outDir, 'model.safetensors')),
    ),
  );
});

// A worker that ends without an 'error' event (process.exit, a native crash) must fail the step with
// its exit code, not leave the pool waiting for its answer forever. The worker exits through its
// test hook (GPT2O_TEST_WORKER_EXIT_AT, read by the worker thread at start); a hang fails on the timeout.
test('a gradient worker that exits mid-training fails the run with its exit code, and does not hang', {
  timeout: 60_000,
}, async () => {
  process.env.GPT2O_TEST_WORKER_EXIT_AT = '3';
  try {
    await assert.rejects(
      train(settings, io({ workers: 2 })),
      (error: Error & { exitCode?: number; hint?: string }) => {
        assert.ok(error instanceof StageError, String(error.stack));
        assert.match(
          error.message,
          /^the worker thread \d of 2 \(gradients\) exited with code 3 before it answered$/,
        );
        assert.equal(error.exitCode, 3);
        assert.match(error.hint ?? '', /GPT2O_WORKERS=1/);
        return true;
      },
    );
  } finally {
    delete process.env.GPT2O_TEST_WORKER_EXIT_AT;
  }
});

// Interrupts: after step 2 (which starts with a val check), and in the middle of step 3 (after its
// first sequence: the abort lands while the engine yields between sequences).
for (const [k, midStep] of [
  [2, false],
  [3, true],
] as const) {
  const when = midStep ? `in the middle of step ${k}` : `after step ${k}`;
  test(`a run interrupted ${when} resumes from its checkpoint to the same result`, async () => {
    const reference = io();
    const expected = await train(settings, reference);

    // Abort once k steps are done (the loop stops before step k's first micro-batch), or queue the
    // abort then (it runs at the loop's first yield inside step k, after one micro-batch). Either
    // way the loop saves a resume checkpoint of the k whole steps and throws.
    const controller = new AbortController();
    let calls = 0;
    const interrupted = io({
      controller,
      onProgress: (done) => {
        if (done === k && !midStep) controller.abort();
      },
      // Step k's gradients: abort once its first sequence is done.
      wrap: (engine) => ({
        description: engine.description,
        loss: (w, s) => engine.loss(w, s),
        dispose: () => engine.dispose(),
        gradients: (w, sequences, scale, signal) => {
          if (midStep && calls++ === k) setImmediate(() => controller.abort());
          return engine.gradients(w, sequences, scale, signal);
        },
      }),
    });
    const before = tf.memory().numTensors;
    await assert.rejects(train(settings, interrupted), Interrupted);
    assert.equal(tf.memory().numTensors - before, 0, 'an interrupted run frees every tensor');
    const step = `step_${String(k).padStart(8, '0')}`;
    assert.deepEqual(readdirSync(interrupted.resumeDir), [step]);
    const saved = readCheckpointState(join(interrupted.resumeDir, step));
    assert.equal(saved.step, k);
    assert.equal(trainLines(saved.metrics as Line[]).length, k);
    assert.ok(!existsSync(join(interrupted.outDir, 'model.safetensors')), 'no final checkpoint');

    const resumed = io({ resumeDir: interrupted.resumeDir });
    const beforeResume = tf.memory().numTensors;
    const summary = await train(settings, resumed);
    // Loading the optimizer state leaves nothing behind either.
    assert.equal(tf.memory().numTensors - beforeResume, 0, 'a resumed run frees every tensor');
    assert.equal(summary.resumed_from, k);
    assert.equal(summary.final_loss, expected.final_loss);
    assert.ok(
      readFileSync(join(resumed.outDir, 'model.safetensors')).equals(
        readFileSync(join(reference.outDir, 'model.safetensors')),
      ),
      'final model.safetensors bytes',
    );
    assert.deepEqual(untimed(metricsOf(resumed.outDir)), untimed(metricsOf(reference.outDir)));
  });
}
