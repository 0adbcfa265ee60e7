// `compare --html` in a real browser: two finished experiments (a tiny model on fixture codes and
// the test codec; the second extends the first with another context length), their report opened
// in headless Chromium from a file:// URL. No console errors, one curve per experiment in each
// chart with every logged point, a playable player per WAV, and nothing fetched from the network.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import type { Comparison } from '../../src/compare/experiment-data.ts';
import { fixtureStages } from '../fixtures/stages/index.ts';
import { readWavWithWavefile } from '../helpers/audio.ts';
import { FAKE_CODES_AND_SHARD } from '../helpers/fake-shards.ts';
import { writeTestCodec } from '../helpers/test-codec.ts';
import { cli, makeWorkspace, runJson, type Workspace } from '../helpers/workspace.ts';

const CHROMIUM = '/usr/bin/chromium';

const PIPELINE = `params:
  train: {context_length: 32, micro_batch: 2, total_batch: 128, max_steps: 20, lr: 0.01}
stages:
${FAKE_CODES_AND_SHARD}
  codec:
    uses: codec
    with: {encoder: models/encoder.onnx, decoder: models/decoder.onnx}
  train:
    uses: train
    needs: {shards: shard}
    with:
      n_layer: 2
      n_head: 2
      n_embd: 32
      vocab_size: null
      context_length: \${train.context_length}
      micro_batch: \${train.micro_batch}
      total_batch: \${train.total_batch}
      max_steps: \${train.max_steps}
      max_lr: \${train.lr}
      eval_interval: 5
      eval_steps: 2
      checkpoint_interval: 10
      backend: wasm
  evaluate:
    uses: evaluate
    needs: {model: train, shards: shard}
    with: {backend: wasm}
  sample:
    uses: sample
    needs: {model: train, shards: shard, codec: codec}
    with: {count: 2, prompt_frames: 3, max_new_frames: 6, temperature: 1.0, constrained: true, backend: wasm}
`;

// `base` is the pipeline as it is; `short` extends it (an experiment may extend another one).
const EXPERIMENTS = {
  'experiments/base.yaml': 'extends: ../pipeline.yaml\nparams:\n  train:\n    lr: 0.01\n',
  'experiments/short.yaml': 'extends: base.yaml\nparams:\n  train:\n    context_length: 16\n',
};

/** Every src= or href= (and CSS url()) that points off the page: http(s) or protocol-relative. */
const EXTERNAL_REF = /\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\/|url\(\s*["']?\s*(?:https?:)?\/\//gi;

describe('compare --html in a browser', () => {
  let ws: Workspace;
  let comparison: Comparison;
  let html: string;

  before(async () => {
    ws = makeWorkspace({ 'pipeline.yaml': PIPELINE, ...EXPERIMENTS });
    writeTestCodec(ws.path('models'));
    for (const file of Object.keys(EXPERIMENTS)) {
      const r = await runJson(ws.dir, [file], fixtureStages);
      assert.equal(r.code, 0, r.stderr);
    }
    const report = await cli(ws.dir, ['compare', '--html', 'report.html'], { registry: fixtureStages });
    assert.equal(report.code, 0, report.stderr);
    html = ws.read('report.html');
    const json = await cli(ws.dir, ['compare', '--json'], { registry: fixtureStages });
    assert.equal(json.code, 0, json.stderr);
    comparison = JSON.parse(json.stdout);
  });
  after(() => ws?.remove());

  test('the comparison has both experiments, a differing context length and their samples', () => {
    assert.deepEqual(
      comparison.experiments.map((e) => e.experiment),
      ['base', 'short'],
    );
    assert.ok(comparison.differingParams.includes('train.context_length'));
    for (const e of comparison.experiments) {
      assert.deepEqual(
        e.audio.map((a) => `${a.stage}/${a.name}`),
        ['sample/samples/sample_00.wav', 'sample/samples/sample_01.wav'],
      );
      for (const name of ['loss', 'val_loss'])
        assert.ok(
          e.series.some((s) => s.name === name && s.points.length > 0),
          `${e.experiment} logged ${name}`,
        );
    }
  });

  test('the report is one file with nothing to fetch', () => {
    const external = [...html.matchAll(EXTERNAL_REF)].map((m) => html.slice(m.index, m.index + 80));
    assert.deepEqual(external, [], 'external references');
    assert.doesNotMatch(html, /<link\b[^>]*rel=["']?stylesheet/i, 'styles are inlined');
    assert.doesNotMatch(html, /<script\b[^>]*\bsrc=/i, 'scripts are inlined');
    assert.match(html, /<h2>Params that differ<\/h2>/);
    assert.match(html, /<code>train\.context_length<\/code><\/th><td>32<\/td><td>16<\/td>/);
  });

  test('in Chromium: no errors, one curve per experiment with every point, every sample playable', async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: this test needs a headless Chromium (apt-get install chromium)`,
    );
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
      // Any request other than the page itself (data: URIs are not requests) is a leak.
      const requests: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('data:')) requests.push(r.url());
      });
      const url = pathToFileURL(ws.path('report.html')).href;
      await page.goto(url);
      await page.waitForFunction(
        () => (window as { __report?: { ready: boolean } }).__report?.ready === true,
      );

      const charts = await page.evaluate(() =>
        (
          window as unknown as {
            __report: {
              charts: {
                id: string;
                series: string[];
                plot: { series: { label: string; show: boolean }[]; data: (number | null)[][] };
              }[];
            };
          }
        ).__report.charts.map((c) => ({
          id: c.id,
          names: c.series,
          // Series 0 of a uPlot instance is x; the curves follow.
          plotted: c.plot.series.slice(1).map((s, i) => ({
            label: s.label,
            show: s.show,
            points: c.plot.data[i + 1]!.filter((v) => v !== null && v !== undefined).length,
          })),
        })),
      );
      const names = comparison.experiments.map((e) => e.experiment);
      const expected = [
        { id: 'chart-loss', series: 'loss' },
        { id: 'chart-val-loss', series: 'val_loss' },
      ].map(({ id, series }) => ({
        id,
        names,
        plotted: comparison.experiments.map((e) => ({
          label: e.experiment,
          show: true,
          points: new Set(e.series.find((s) => s.name === series)!.points.map(([step]) => step)).size,
        })),
      }));
      assert.deepEqual(charts, expected);
      // 20 steps of train loss; val loss every 5 steps and at the last: 0, 5, 10, 15, 19.
      assert.deepEqual(
        charts.map((c) => c.plotted[0]!.points),
        [20, 5],
      );

      // Each player's duration once its metadata is in, keyed by the figure's experiment and file.
      // (No named functions inside page callbacks: tsx's keepNames would wrap them in a `__name`
      // helper that exists only in Node.)
      const players = await page.evaluate(() =>
        Promise.all(
          [...document.querySelectorAll('audio')].map(
            (audio) =>
              new Promise<{ key: string; duration: number }>((resolve, reject) => {
                const figure = audio.closest('figure')!;
                const key = `${figure.dataset.experiment}:${figure.dataset.audio}`;
                if (audio.readyState >= 1) resolve({ key, duration: audio.duration });
                audio.addEventListener('loadedmetadata', () => resolve({ key, duration: audio.duration }), {
                  once: true,
                });
                audio.addEventListener(
                  'error',
                  () => reject(new Error(`${key}: error ${audio.error?.code}`)),
                  {
                    once: true,
                  },
                );
                setTimeout(() => reject(new Error(`${key}: no loadedmetadata within 10 s`)), 10_000);
              }),
          ),
        ),
      );
      const wavs = comparison.experiments.flatMap((e) =>
        e.audio.map((a) => ({ key: `${e.experiment}:${a.stage}/${a.name}`, path: a.path })),
      );
      assert.equal(wavs.length, 4, '2 samples × 2 experiments');
      assert.deepEqual(players.map((p) => p.key).sort(), wavs.map((w) => w.key).sort(), 'one player per WAV');
      for (const wav of wavs) {
        const { duration } = players.find((p) => p.key === wav.key)!;
        const { samples, sampleRate } = readWavWithWavefile(readFileSync(wav.path));
        const seconds = samples.length / sampleRate;
        assert.ok(Number.isFinite(duration) && duration > 0, `${wav.key}: duration ${duration}`);
        assert.ok(Math.abs(duration - seconds) < 0.01, `${wav.key}: ${duration} s, the WAV has ${seconds} s`);
      }

      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [url]);
    } finally {
      await browser.close();
    }
  });
});
