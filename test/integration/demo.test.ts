// The README's main command on a copy of the repository's own pipeline.yaml and experiments/:
// `gpt2o-pipe run` with no argument runs the offline demo (audio → tokens with the test codec → a
// small GPT trained, evaluated and sampled back to audio), and a second run is all cached.
import assert from 'node:assert/strict';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { execCli, makeWorkspace, REPO, runJson } from '../helpers/workspace.ts';

test('the default experiment runs offline from the shipped demo data, then is all cached', async () => {
  const ws = makeWorkspace({});
  try {
    cpSync(join(REPO, 'pipeline.yaml'), ws.path('pipeline.yaml'));
    cpSync(join(REPO, 'experiments'), ws.path('experiments'), { recursive: true });
    const first = await runJson(ws.dir);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.json.experiment, 'demo');
    assert.deepEqual(first.status, {
      download: 'ran',
      resample: 'ran',
      codec: 'ran',
      tokenize: 'ran',
      shard: 'ran',
      train: 'ran',
      evaluate: 'ran',
      sample: 'ran',
    });
    const manifest = JSON.parse(ws.read('runs/demo/resample/manifest.json'));
    assert.equal(manifest.sample_rate, 24000);
    assert.deepEqual(
      manifest.files.map((f: { file: string; split: string; seconds: number }) => [
        f.file,
        f.split,
        Math.round(f.seconds),
      ]),
      [
        ['wav/sherlock_01_demo.wav', 'val', 15],
        ['wav/sherlock_02_demo.wav', 'train', 18],
        ['wav/sherlock_03_demo.wav', 'train', 19],
      ],
    );
    const meta = JSON.parse(ws.read('runs/demo/shard/meta.json'));
    assert.deepEqual([meta.layout, meta.vocab_size, meta.codebook_size], ['gpt2o', 4098, 4096]);
    assert.equal(meta.total.tokens, 8 * meta.total.frames);
    assert.equal(meta.val.frames, Math.ceil((15.177167 * 24000) / 2048));
    const summary = JSON.parse(ws.read('runs/demo/train/summary.json'));
    assert.equal(summary.steps, 40);
    assert.ok(summary.final_loss < 3, `the demo model learns: final loss ${summary.final_loss}`);
    const evaluation = JSON.parse(ws.read('runs/demo/evaluate/metrics.json'));
    assert.equal(evaluation.tokens, meta.val.tokens - 1);
    assert.ok(evaluation.val_loss < 3.5, `val loss ${evaluation.val_loss}`);
    const samples = JSON.parse(ws.read('runs/demo/sample/samples.json'));
    assert.equal(samples.valid_frame_share, 1);
    assert.equal(samples.samples.length, 2);
    const again = await runJson(ws.dir);
    assert.ok(
      Object.values(again.status).every((s) => s === 'cached'),
      JSON.stringify(again.status),
    );
    // The demo codec's decoder adds noise with an unseeded RandomNormalLike (as SNAC's noise blocks
    // do), which onnxruntime seeds from the clock once per process; sample seeds it from sample.seed,
    // so a rerun in another process writes the same bytes.
    // The reference (the val span through the same decoder) is seeded the same way.
    const wavs = () =>
      ['samples/sample_00', 'samples/sample_01', 'reference'].map((n) =>
        readFileSync(ws.path(`runs/demo/sample/${n}.wav`)),
      );
    const before = wavs();
    const forced = await execCli(ws.dir, ['run', '--force', 'sample', '--json']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(
      JSON.parse(forced.stdout).stages.find((s: { name: string }) => s.name === 'sample').status,
      'ran',
    );
    const after = wavs();
    for (const k of [0, 1, 2]) assert.ok(before[k]!.equals(after[k]!), `WAV ${k} differs between runs`);
  } finally {
    ws.remove();
  }
});
