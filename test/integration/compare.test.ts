// `compare` over two finished experiments of a real (tiny) project: the params that differ, the
// metrics of the stages whose results differ, --json with stable keys, --md, and --plot sparklines.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { sparkline } from '../../src/compare/text.ts';
import { fixtureStages } from '../fixtures/stages/index.ts';
import { writeTestCodec } from '../helpers/test-codec.ts';
import { cli, makeWorkspace, runJson, type Workspace } from '../helpers/workspace.ts';

const PIPELINE = `params:
  train: {context_length: 16, lr: 0.01}
stages:
  codes:
    uses: fake-codes
    with: {seed: 2, frames: [24, 60]}
  shard:
    uses: shard
    needs: {codes: codes}
    with: {layout: gpt2o, shard_tokens: 1000}
  codec:
    uses: codec
    with: {encoder: models/encoder.onnx, decoder: models/decoder.onnx}
  train:
    uses: train
    needs: {shards: shard}
    with:
      n_layer: 1
      n_head: 2
      n_embd: 16
      vocab_size: null
      context_length: \${train.context_length}
      micro_batch: 2
      total_batch: 64
      max_steps: 6
      max_lr: \${train.lr}
      eval_interval: 2
      eval_steps: 1
      backend: wasm
  evaluate:
    uses: evaluate
    needs: {model: train, shards: shard}
    with: {backend: wasm}
  sample:
    uses: sample
    needs: {model: train, shards: shard, codec: codec}
    with: {count: 1, prompt_frames: 2, max_new_frames: 2, backend: wasm}
`;

describe('compare', () => {
  let ws: Workspace;
  before(async () => {
    ws = makeWorkspace({
      'pipeline.yaml': PIPELINE,
      'experiments/base.yaml': 'extends: ../pipeline.yaml\n',
      'experiments/ctx32.yaml': 'extends: base.yaml\nparams:\n  train: {context_length: 32}\n',
    });
    writeTestCodec(ws.path('models'));
    for (const file of ['experiments/base.yaml', 'experiments/ctx32.yaml']) {
      const r = await runJson(ws.dir, [file], fixtureStages);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(() => ws.remove());

  test('--json: both experiments, the differing param, the differing stages, curves and audio', async () => {
    const r = await cli(ws.dir, ['compare', '--json'], { registry: fixtureStages });
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(c), ['projectRoot', 'experiments', 'differingParams', 'differingStages']);
    assert.deepEqual(
      c.experiments.map((e: { experiment: string }) => e.experiment),
      ['base', 'ctx32'],
    );
    assert.deepEqual(c.differingParams, ['train.context_length']);
    assert.deepEqual(c.differingStages, ['train', 'evaluate', 'sample']);
    const [base, ctx] = c.experiments;
    assert.deepEqual(Object.keys(base), [
      'experiment',
      'specFile',
      'updatedAt',
      'params',
      'stages',
      'series',
      'audio',
      'reference',
      'breakdowns',
    ]);
    assert.equal(base.params['train.context_length'], 16);
    assert.equal(ctx.params['train.context_length'], 32);
    const train = (e: typeof base) => e.stages.find((s: { name: string }) => s.name === 'train');
    const summary = JSON.parse(readFileSync(ws.path('runs/base/train/summary.json'), 'utf8'));
    assert.equal(train(base).metrics.final_loss, summary.final_loss);
    const loss = base.series.find((s: { name: string }) => s.name === 'loss');
    assert.deepEqual(
      loss.points.map((p: number[]) => p[0]),
      [0, 1, 2, 3, 4, 5],
    );
    const valLoss = base.series.find((s: { name: string }) => s.name === 'val_loss');
    assert.deepEqual(
      valLoss.points.map((p: number[]) => p[0]),
      [0, 2, 4, 5],
    );
    // Audio: the WAVs of the last stages only (sample), not resample's or the shards'.
    assert.deepEqual(
      base.audio.map((a: { stage: string; name: string }) => `${a.stage}:${a.name}`),
      ['sample:samples/sample_00.wav'],
    );
    assert.equal(base.audio[0].bytes, readFileSync(ws.path('runs/base/sample/samples/sample_00.wav')).length);
    // sample's reference.wav is the reference, not a sample.
    assert.deepEqual(
      base.reference.map((a: { stage: string; name: string }) => `${a.stage}:${a.name}`),
      ['sample:reference.wav'],
    );
    // The loss breakdowns: evaluate's by_level and by_position, with metrics.json's values.
    const evaluation = JSON.parse(readFileSync(ws.path('runs/base/evaluate/metrics.json'), 'utf8'));
    assert.deepEqual(base.breakdowns, [
      {
        stage: 'evaluate',
        name: 'by_position',
        bars: evaluation.by_position.map((p: { position: number; what: string; loss: number }) => ({
          label: `position ${p.position}`,
          value: p.loss,
          detail: p.what,
        })),
      },
      {
        stage: 'evaluate',
        name: 'by_level',
        bars: ['0', '1', '2'].map((l) => ({ label: `level ${l}`, value: evaluation.by_level[l].loss })),
      },
    ]);
    assert.equal(base.breakdowns[0].bars.length, 8);
  });

  test('the table shows the differing param and per-stage metrics; --md the same as Markdown', async () => {
    const table = await cli(ws.dir, ['compare'], { registry: fixtureStages });
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.split('\n');
    assert.match(lines[0]!, /^\s+base\s+ctx32$/);
    assert.match(table.stdout, /params that differ\n {2}train\.context_length\s+16\s+32\n/);
    const summary = JSON.parse(readFileSync(ws.path('runs/ctx32/train/summary.json'), 'utf8'));
    assert.ok(
      lines.some(
        (l) => /^ {2}train\.final_loss\s/.test(l) && l.trimEnd().endsWith(summary.final_loss.toFixed(4)),
      ),
      table.stdout,
    );
    assert.match(table.stdout, / {2}evaluate\.perplexity\s/);
    assert.doesNotMatch(table.stdout, /shard\./, 'shared stages are not repeated');
    const md = await cli(ws.dir, ['compare', '--md'], { registry: fixtureStages });
    assert.match(md.stdout, /^\| \| base \| ctx32 \|\n\|---\|---:\|---:\|\n/);
    assert.match(md.stdout, /\| `train\.context_length` \| 16 \| 32 \|/);
  });

  test('--plot prints a sparkline per experiment for train and val loss', async () => {
    const r = await cli(ws.dir, ['compare', 'experiments/ctx32.yaml', '--plot'], { registry: fixtureStages });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /train\/loss\n {2}ctx32\s+\d+\.\d{3} [▁▂▃▄▅▆▇█]{6} \d+\.\d{3} {2}\(6 points, steps 0–5\)/,
    );
    assert.match(r.stdout, /train\/val_loss\n {2}ctx32 .*\(4 points, steps 0–5\)/);
    assert.equal(
      sparkline(
        [
          [0, 4],
          [1, 3],
          [2, 2],
          [3, 1],
        ],
        4,
      ),
      '█▆▃▁',
    );
  });

  test('an experiment without a finished run is a clear error', async () => {
    ws.write('experiments/never.yaml', 'extends: base.yaml\nparams:\n  train: {lr: 0.02}\n');
    const r = await cli(ws.dir, ['compare', 'experiments/never.yaml'], { registry: fixtureStages });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no finished run of experiments\/never\.yaml/);
    assert.match(r.stderr, /gpt2o-pipe run experiments\/never\.yaml/);
  });

  test('--html into a missing folder is a usage error naming the folder', async () => {
    const r = await cli(ws.dir, ['compare', '--html', 'no/such/report.html'], { registry: fixtureStages });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /error E_USAGE_HTML_TARGET/);
    assert.match(r.stderr, /compare --html no\/such\/report\.html: the folder no\/such does not exist/);
    assert.match(r.stderr, /hint: create it first \(mkdir -p no\/such\)/);
    assert.doesNotMatch(r.stderr, /internal error/);
  });

  test('--html never replaces a file it did not write: the spec, or any other page', async () => {
    const spec = ws.read('pipeline.yaml');
    const yaml = await cli(ws.dir, ['compare', '--html', 'pipeline.yaml'], { registry: fixtureStages });
    assert.equal(yaml.code, 2, yaml.stderr);
    assert.match(
      yaml.stderr,
      /compare --html pipeline\.yaml: the report is HTML, and this name does not end in \.html/,
    );
    assert.equal(ws.read('pipeline.yaml'), spec, 'the spec is untouched');

    writeFileSync(ws.path('notes.html'), '<html><body>my notes</body></html>\n');
    const other = await cli(ws.dir, ['compare', '--html', 'notes.html'], { registry: fixtureStages });
    assert.equal(other.code, 2, other.stderr);
    assert.match(
      other.stderr,
      /notes\.html: the file exists and is not a report compare wrote, so it is left alone/,
    );
    assert.equal(ws.read('notes.html'), '<html><body>my notes</body></html>\n');

    // Its own report it rewrites.
    for (let i = 0; i < 2; i++) {
      const ok = await cli(ws.dir, ['compare', '--html', 'report.html'], { registry: fixtureStages });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stderr, /compare: wrote report\.html/);
    }
    assert.match(
      ws.read('report.html'),
      /^<!doctype html>[\s\S]*<meta name="generator" content="gpt2o-pipe compare">/,
    );
  });
});
