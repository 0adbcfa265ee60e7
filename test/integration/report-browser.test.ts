// `compare SWEEP --html` in a real browser: a sweep of two variants (a tiny model on fixture codes and
// the test codec; the variants differ in context length and in what the probe copies), their report opened
// in headless Chromium from a file:// URL. No console errors, one curve per experiment in each
// chart with every logged point, a legend that focuses and hides curves, a playable player and a
// spectrogram per WAV (a `probe` cmd stage copies a generated tone into one variant and white
// noise into the other, and their pictures are read back from the page), the reference row, the
// per-level loss bars, and nothing fetched from the network.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import type { Comparison } from '../../src/compare/experiment-data.ts';
import { fixtureStages } from '../fixtures/stages/index.ts';
import { readWavWithWavefile, tone, wavFile, whiteNoise } from '../helpers/audio.ts';
import { FAKE_CODES_AND_SHARD } from '../helpers/fake-shards.ts';
import { writeTestCodec } from '../helpers/test-codec.ts';
import { cli, makeWorkspace, type Workspace } from '../helpers/workspace.ts';

const CHROMIUM = '/usr/bin/chromium';

const PIPELINE = `params:
  train: {context_length: 32, micro_batch: 2, total_batch: 128, max_steps: 20, lr: 0.01}
  probe: {kind: tone}
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
  probe:
    cmd: mkdir -p out && cp data/\${probe.kind}.wav out/probe.wav
    deps: [data]
    outs: [out]
`;

// One experiment file sweeping two variants: the tone with context 32, the noise with context 16.
const EXPERIMENTS = {
  'experiments/probe.yaml': `extends: ../pipeline.yaml
sweep:
  variants:
    - {train.context_length: 32, probe.kind: tone}
    - {train.context_length: 16, probe.kind: noise}
`,
};
/** The variants' names, as the sweep derives them from their values. */
const TONE = 'probe.context_length-32.kind-tone';
const NOISE = 'probe.context_length-16.kind-noise';

/** The probe tone: 3 kHz at 24 kHz, about half-way up the (mel-scaled) spectrogram. */
const TONE_HZ = 3000;
const RATE = 24000;

/** Every src= or href= (and CSS url()) that points off the page: http(s) or protocol-relative. */
const EXTERNAL_REF = /\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\/|url\(\s*["']?\s*(?:https?:)?\/\//gi;

describe('compare --html in a browser', () => {
  let ws: Workspace;
  let comparison: Comparison;
  let html: string;

  before(async () => {
    ws = makeWorkspace({ 'pipeline.yaml': PIPELINE, ...EXPERIMENTS });
    writeTestCodec(ws.path('models'));
    mkdirSync(ws.path('data'));
    writeFileSync(ws.path('data/tone.wav'), wavFile(tone(TONE_HZ, RATE, 0.5)[0]!, RATE));
    writeFileSync(ws.path('data/noise.wav'), wavFile(whiteNoise(RATE, 0.5), RATE));
    const r = await cli(ws.dir, ['run', 'experiments/probe.yaml', '--json'], { registry: fixtureStages });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).variants.map((v: { name: string; state: string }) => `${v.name} ${v.state}`),
      [`${TONE} done`, `${NOISE} done`],
    );
    const report = await cli(ws.dir, ['compare', 'probe', '--html', 'report.html'], {
      registry: fixtureStages,
    });
    assert.equal(report.code, 0, report.stderr);
    html = ws.read('report.html');
    const json = await cli(ws.dir, ['compare', 'probe', '--json'], { registry: fixtureStages });
    assert.equal(json.code, 0, json.stderr);
    comparison = JSON.parse(json.stdout);
  });
  after(() => ws?.remove());

  test('the comparison has both experiments, a differing context length and their samples', () => {
    assert.deepEqual(
      comparison.experiments.map((e) => e.experiment),
      [TONE, NOISE],
    );
    assert.ok(comparison.differingParams.includes('train.context_length'));
    for (const e of comparison.experiments) {
      assert.deepEqual(e.audio.map((a) => `${a.stage}/${a.name}`).sort(), [
        'probe/out/probe.wav',
        'sample/samples/sample_00.wav',
        'sample/samples/sample_01.wav',
      ]);
      assert.deepEqual(
        e.reference.map((a) => `${a.stage}/${a.name}`),
        ['sample/reference.wav'],
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
    // The sweep's own table: a line per variant, its swept values as columns (in the sweep's order).
    const sweep = /<table class="sweep">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
    const cells = [
      ...sweep.matchAll(
        /<tr[^>]*><th scope="row">(?:<svg[\s\S]*?<\/svg>)?([^<]+)<\/th><td>([^<]*)<\/td><td>([^<]*)<\/td>/g,
      ),
    ].map((m) => m.slice(1, 4).join(' '));
    assert.deepEqual(cells, [`${TONE} 32 tone`, `${NOISE} 16 noise`]);
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
          [...document.querySelectorAll('figure[data-experiment] audio')].map(
            (audio) =>
              new Promise<{ key: string; duration: number }>((resolve, reject) => {
                if (!(audio instanceof HTMLAudioElement)) throw new Error('not an audio element');
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
      assert.equal(wavs.length, 6, '2 samples and a probe × 2 experiments');
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

  test('in Chromium: every player has a spectrogram; the tone is one bright band, the noise is bright throughout', async () => {
    await withReport(async (page) => {
      // Each spectrogram drawn onto a canvas and read back: its size and the mean brightness of each
      // row (R+G+B), top (Nyquist) to bottom (0 Hz).
      const pictures = await page.evaluate(() =>
        [...document.querySelectorAll('figure.audio')].map((figure) => {
          const img = figure.querySelector('.spectrogram img') as HTMLImageElement | null;
          const el = figure as HTMLElement;
          const key = `${el.dataset.experiment ?? `reference of ${el.dataset.reference}`}:${el.dataset.audio}`;
          if (!img?.complete || img.naturalWidth === 0) return { key, rows: null, width: 0 };
          const canvas = document.createElement('canvas');
          canvas.width = img.naturalWidth;
          canvas.height = img.naturalHeight;
          const context = canvas.getContext('2d')!;
          context.drawImage(img, 0, 0);
          const { data, width, height } = context.getImageData(0, 0, canvas.width, canvas.height);
          const rows: number[] = [];
          for (let y = 0; y < height; y++) {
            let sum = 0;
            for (let x = 0; x < width; x++)
              sum +=
                data[(y * width + x) * 4]! + data[(y * width + x) * 4 + 1]! + data[(y * width + x) * 4 + 2]!;
            rows.push(sum / width);
          }
          return { key, rows, width };
        }),
      );
      const keys = pictures.map((p) => p.key).sort();
      assert.deepEqual(
        keys,
        [
          `${TONE}:probe/out/probe.wav`,
          `${TONE}:sample/samples/sample_00.wav`,
          `${TONE}:sample/samples/sample_01.wav`,
          `reference of ${TONE} ${NOISE}:sample/reference.wav`,
          `${NOISE}:probe/out/probe.wav`,
          `${NOISE}:sample/samples/sample_00.wav`,
          `${NOISE}:sample/samples/sample_01.wav`,
        ].sort(),
      );
      for (const p of pictures)
        assert.ok(p.rows && p.rows.length === 128, `${p.key} has a 128-row spectrogram`);
      const rowsOf = (key: string) => pictures.find((p) => p.key === key)!.rows!;
      const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;

      // The tone variant: one bright band at 3 kHz on the mel scale (HTK), dark elsewhere.
      const mel = (f: number) => 2595 * Math.log10(1 + f / 700);
      const toneRows = rowsOf(`${TONE}:probe/out/probe.wav`);
      const brightest = toneRows.indexOf(Math.max(...toneRows));
      const expected = 127 - Math.floor((mel(TONE_HZ) / mel(RATE / 2)) * 128);
      assert.ok(
        Math.abs(brightest - expected) <= 1,
        `tone: brightest row ${brightest}, expected ${expected}`,
      );
      const bright = toneRows.filter((r) => r > toneRows[brightest]! / 2).length;
      assert.ok(bright <= 6, `tone: ${bright} rows are bright, not one band`);
      // The noise variant: every row about as bright as the brightest, and far above the tone's floor.
      const noiseRows = rowsOf(`${NOISE}:probe/out/probe.wav`);
      assert.ok(
        Math.min(...noiseRows) > 0.7 * Math.max(...noiseRows),
        `noise: rows ${Math.min(...noiseRows)}..${Math.max(...noiseRows)}`,
      );
      assert.ok(median(noiseRows) > 2 * median(toneRows), 'noise is brighter than the tone off its band');
      // Same colour scale: the tone's band and the noise are drawn from the same dB range, so the
      // 0.5-amplitude tone (a single bin, -6 dBFS) is brighter than any row of the noise (spread thin).
      assert.ok(toneRows[brightest]! > Math.max(...noiseRows), 'the tone band outshines the noise');

      // The samples and the reference: pictures of real sound, not blank.
      for (const p of pictures.filter((q) => !q.key.includes('probe')))
        assert.ok(Math.max(...p.rows!) - Math.min(...p.rows!) > 30, `${p.key}: a picture with contrast`);
      // 9 frames of 2048 samples at 24 kHz: 18432 / 128-sample hops = 144 columns.
      assert.equal(pictures.find((p) => p.key.startsWith('reference'))!.width, 144);
    });
  });

  test('in Chromium: the reference row plays the val span through the codec, once for both experiments', async () => {
    const reference = readFileSync(comparison.experiments[0]!.reference[0]!.path);
    const sample = readFileSync(
      comparison.experiments[0]!.audio.find((a) => a.name.endsWith('sample_00.wav'))!.path,
    );
    assert.ok(
      reference.equals(readFileSync(comparison.experiments[1]!.reference[0]!.path)),
      'same data, same codec',
    );
    assert.ok(!reference.equals(sample), 'the reference is not a sample');
    await withReport(async (page) => {
      const row = await page.evaluate(() =>
        [...document.querySelectorAll('.reference-row figure')].map((f) => ({
          reference: (f as HTMLElement).dataset.reference,
          caption: f.querySelector('figcaption strong')!.textContent,
          src: f.querySelector('audio')!.getAttribute('src'),
        })),
      );
      assert.deepEqual(row, [
        {
          reference: `${TONE} ${NOISE}`,
          caption: 'both experiments',
          src: `data:audio/wav;base64,${reference.toString('base64')}`,
        },
      ]);
      // It comes first: before every sample row.
      const order = await page.evaluate(() =>
        [...document.querySelectorAll('.audio-row h3')].map((h) => h.textContent!.slice(0, 9)),
      );
      assert.equal(order[0], 'Reference');
    });
  });

  test('in Chromium: per-level and per-position loss bars, heights in proportion to metrics.json', async () => {
    await withReport(async (page) => {
      const bars = await page.evaluate(() =>
        [...document.querySelectorAll('figure[data-breakdown]')].map((f) => ({
          breakdown: (f as HTMLElement).dataset.breakdown,
          rects: [...f.querySelectorAll('rect')].map((r) => ({
            experiment: r.dataset.experiment!,
            label: r.dataset.label!,
            value: Number(r.dataset.value),
            height: r.getBBox().height,
            fill: r.getAttribute('fill'),
          })),
        })),
      );
      assert.deepEqual(
        bars.map((b) => b.breakdown),
        ['evaluate.by_position', 'evaluate.by_level'],
      );
      const levels = bars[1]!.rects;
      const expected = comparison.experiments.flatMap((e) => {
        const metrics = JSON.parse(ws.read(`runs/${e.experiment}/evaluate/metrics.json`));
        return ['0', '1', '2'].map((l) => ({
          experiment: e.experiment,
          label: `level ${l}`,
          value: metrics.by_level[l].loss,
        }));
      });
      assert.deepEqual(
        levels
          .map(({ experiment, label, value }) => ({ experiment, label, value }))
          .sort((a, b) => a.label.localeCompare(b.label) || a.experiment.localeCompare(b.experiment)),
        expected.sort((a, b) => a.label.localeCompare(b.label) || a.experiment.localeCompare(b.experiment)),
      );
      // One y axis from 0: height / value is the same for every bar.
      const scale = levels[0]!.height / levels[0]!.value;
      for (const r of levels)
        assert.ok(Math.abs(r.height / r.value - scale) < 0.01 * scale, `${r.experiment} ${r.label}`);
      // Each experiment's bars in its colour (the first two of the palette).
      assert.deepEqual(
        [...new Set(levels.map((r) => `${r.experiment} ${r.fill}`))].sort(),
        [`${TONE} #4e79a7`, `${NOISE} #f28e2b`].sort(),
      );
      assert.equal(bars[0]!.rects.length, 8 * 2, 'eight places in a frame × two experiments');
    });
  });

  test('in Chromium: hovering a legend entry brings its curves forward, clicking hides them in both charts', async () => {
    await withReport(async (page) => {
      const state = () =>
        page.evaluate(() =>
          (
            window as unknown as {
              __report: { charts: { plot: { series: { alpha?: number; show: boolean }[] } }[] };
            }
          ).__report.charts.map((c) =>
            c.plot.series.slice(1).map((s) => ({ alpha: s.alpha ?? 1, show: s.show })),
          ),
        );
      const legend = page.locator('#legend button');
      assert.equal(await legend.count(), 2);
      await legend.nth(1).hover();
      assert.deepEqual(await state(), [
        [
          { alpha: 0.2, show: true },
          { alpha: 1, show: true },
        ],
        [
          { alpha: 0.2, show: true },
          { alpha: 1, show: true },
        ],
      ]);
      await legend.nth(1).click();
      await page.mouse.move(0, 0);
      assert.deepEqual(await state(), [
        [
          { alpha: 1, show: true },
          { alpha: 1, show: false },
        ],
        [
          { alpha: 1, show: true },
          { alpha: 1, show: false },
        ],
      ]);
      assert.equal(await legend.nth(1).getAttribute('aria-pressed'), 'false');
      // On the chart: the curve nearest the cursor (the tone variant's, the one shown) is named with its value.
      const over = page.locator('#chart-loss .u-over');
      const box = (await over.boundingBox())!;
      await over.hover({ position: { x: box.width / 2, y: box.height / 2 } });
      await over.hover({ position: { x: box.width / 2 + 2, y: box.height / 2 } });
      const readout = (await page.locator('#chart-loss .readout').textContent())!;
      const match = new RegExp(`^step (\\d+)(?: · ${TONE.replaceAll('.', '\\.')}: ([\\d.]+))?$`).exec(
        readout,
      );
      assert.ok(match, `readout: ${readout}`);
      const base = comparison.experiments[0]!.series.find((s) => s.name === 'loss')!.points;
      const step = Number(match[1]);
      assert.ok(
        base.some(([s]) => s === step),
        `step ${step} is a logged step`,
      );
      const last = [...base].reverse().find(([s]) => s === step)!;
      if (match[2]) assert.equal(match[2], last[1].toFixed(4));
    });
  });

  /** Opens the report in Chromium, runs `check`, then asserts no page errors and no requests. */
  async function withReport(check: (page: Page) => Promise<void>): Promise<void> {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: this test needs a headless Chromium`);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
      const requests: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('data:')) requests.push(r.url());
      });
      const url = pathToFileURL(ws.path('report.html')).href;
      await page.goto(url);
      await page.waitForFunction(
        () => (window as { __report?: { ready: boolean } }).__report?.ready === true,
      );
      // Images are data URIs: decoded before `load`, but wait for every one all the same.
      await page.evaluate(() => Promise.all([...document.images].map((img) => img.decode())));
      await check(page);
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [url]);
    } finally {
      await browser.close();
    }
  }
});
