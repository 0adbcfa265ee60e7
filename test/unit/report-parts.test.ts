// Parts of the HTML report that need no browser: each experiment's mark (colour and dash) stays
// distinct for a 20-variant sweep, the `by_*` breakdowns are read only where they have the shape
// compare knows, the grouped bars draw one bar per experiment and part, none for a missing loss, and
// the audio section: a file that is not a WAV gets a note instead of a picture, and references that
// differ between experiments get a player each.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readBreakdowns } from '../../src/compare/breakdowns.ts';
import type { Comparison, ExperimentResult } from '../../src/compare/experiment-data.ts';
import { renderAudio } from '../../src/compare/html-audio.ts';
import { renderBreakdowns } from '../../src/compare/html-bars.ts';
import { experimentStyle } from '../../src/compare/html-common.ts';
import { tone, wavFile } from '../helpers/audio.ts';

test('20 experiments get 20 different marks; the first ten solid, the next ten dashed', () => {
  const marks = Array.from({ length: 20 }, (_, i) => experimentStyle(i));
  assert.equal(new Set(marks.map((m) => m.color)).size, 20, 'twenty colours');
  assert.deepEqual(
    marks.map((m) => m.dash.length > 0),
    [...Array(10).fill(false), ...Array(10).fill(true)],
  );
  assert.match(experimentStyle(25).color, /^hsl\(/);
});

test('readBreakdowns keeps by_* lists and maps of {loss}, and nothing else', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2o-breakdowns-'));
  try {
    const file = join(dir, 'metrics.json');
    writeFileSync(
      file,
      JSON.stringify({
        val_loss: 2.1,
        by_level: { 0: { loss: 2.5, tokens: 10 }, 1: { loss: null, tokens: 0 } },
        by_position: [
          { position: 0, what: 'frame marker', loss: 1.5 },
          { position: 1, what: 'level 0 code', loss: 2.5 },
        ],
        by_speaker: [{ name: 'a', score: 3 }], // no loss: not a breakdown
        by_word: { a: { loss: 'high' } }, // a loss that is not a number
        by_frame: Array.from({ length: 65 }, (_, i) => ({ loss: i })), // too many parts to draw
        by_x: [],
        byline: { a: { loss: 1 } },
      }),
    );
    assert.deepEqual(readBreakdowns('evaluate', file), [
      {
        stage: 'evaluate',
        name: 'by_level',
        bars: [
          { label: 'level 0', value: 2.5 },
          { label: 'level 1', value: null },
        ],
      },
      {
        stage: 'evaluate',
        name: 'by_position',
        bars: [
          { label: 'position 0', detail: 'frame marker', value: 1.5 },
          { label: 'position 1', detail: 'level 0 code', value: 2.5 },
        ],
      },
    ]);
    writeFileSync(file, '{"by_level": {"0": {"loss": 1}');
    assert.deepEqual(readBreakdowns('evaluate', file), [], 'broken JSON: nothing to draw');
    assert.deepEqual(readBreakdowns('evaluate', join(dir, 'missing.json')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('grouped bars: a bar per experiment and part, heights on one axis, none for a missing loss', () => {
  const experiment = (name: string, losses: (number | null)[]): ExperimentResult => ({
    experiment: name,
    specFile: `/p/${name}.yaml`,
    updatedAt: '2026-11-30T00:00:00Z',
    params: {},
    stages: [],
    series: [],
    audio: [],
    reference: [],
    breakdowns: [
      {
        stage: 'evaluate',
        name: 'by_level',
        bars: losses.map((value, l) => ({ label: `level ${l}`, value })),
      },
    ],
  });
  const c: Comparison = {
    projectRoot: '/p',
    experiments: [experiment('a', [2, 1, null]), experiment('b', [4, 3, 2])],
    differingParams: [],
    differingStages: [],
  };
  const svg = renderBreakdowns(c);
  const rects = [
    ...svg.matchAll(
      /<rect data-experiment="(\w)" data-label="([^"]+)" data-value="([^"]+)"[^>]* height="([\d.]+)" fill="([^"]+)"/g,
    ),
  ].map(([, e, label, value, height, fill]) => ({
    e,
    label,
    value: Number(value),
    height: Number(height),
    fill,
  }));
  assert.deepEqual(
    rects.map((r) => `${r.e} ${r.label} ${r.value} ${r.fill}`),
    [
      'a level 0 2 #4e79a7',
      'b level 0 4 #f28e2b',
      'a level 1 1 #4e79a7',
      'b level 1 3 #f28e2b',
      'b level 2 2 #f28e2b',
    ],
  );
  for (const r of rects) assert.ok(Math.abs(r.height / r.value - rects[0]!.height / rects[0]!.value) < 0.01);
  assert.match(svg, /<figcaption>Loss by level <span class="muted">evaluate\/metrics\.json<\/span>/);
  assert.equal(renderBreakdowns({ ...c, experiments: [] }), '', 'no breakdowns, no section');
});

test('audio: a file that is not a WAV gets a note; references that differ get a player each', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2o-audio-'));
  try {
    const file = (name: string, bytes: Buffer) => {
      writeFileSync(join(dir, name), bytes);
      return { stage: 'sample', name, path: join(dir, name), bytes: bytes.length };
    };
    const bad = file('bad.wav', Buffer.from('not audio'));
    const refA = file('a-reference.wav', wavFile(tone(440, 8000, 0.1)[0]!, 8000));
    const refB = file('b-reference.wav', wavFile(tone(880, 8000, 0.1)[0]!, 8000));
    const experiment = (name: string, reference: typeof refA): ExperimentResult => ({
      experiment: name,
      specFile: `/p/${name}.yaml`,
      updatedAt: '2026-11-30T00:00:00Z',
      params: {},
      stages: [],
      series: [],
      audio: [bad],
      // Both under one name, as two experiments' sample/reference.wav would be.
      reference: [{ ...reference, name: 'reference.wav' }],
      breakdowns: [],
    });
    const html = renderAudio({
      projectRoot: '/p',
      experiments: [experiment('a', refA), experiment('b', refB)],
      differingParams: [],
      differingStages: [],
    });
    assert.equal(
      html.match(/No spectrogram for bad\.wav: it is not a RIFF\/WAVE file\./g)?.length,
      2,
      'a note in each experiment',
    );
    assert.deepEqual(
      [...html.matchAll(/data-reference="([^"]*)"/g)].map((m) => m[1]),
      ['a', 'b'],
    );
    assert.equal(html.match(/<img src="data:image\/png;base64,/g)?.length, 2, 'a picture per reference');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
