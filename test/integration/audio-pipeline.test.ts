// Issue 3's end-to-end promise: download → resample over a 12-chapter MP3 zip served from
// 127.0.0.1, surviving a dropped connection; a second run is cached, and a new sample rate reruns
// resample only.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { encodeMp3, readWavWithWavefile, tone, toneFrequency } from '../helpers/audio.ts';
import { zipOf } from '../helpers/bytes.ts';
import { startServer, type TestServer } from '../helpers/http-server.ts';
import { makeWorkspace, runJson, type Workspace } from '../helpers/workspace.ts';

let server: TestServer;
let ws: Workspace;
// Chapter k is a tone of 200 + 50·k Hz, so each output can be traced back to its chapter.
const hz = (k: number) => 200 + 50 * k;

before(async () => {
  const chapters: Record<string, Uint8Array> = {};
  for (let k = 1; k <= 12; k++) {
    const name = `sherlock/adventuresholmes_${String(k).padStart(2, '0')}_doyle_64kb.mp3`;
    chapters[name] = encodeMp3(tone(hz(k), 44100, 3, 2), 44100, 128);
  }
  server = await startServer({ '/book.zip': { body: await zipOf(chapters), dropFirst: true } });
  ws = makeWorkspace({
    'pipeline.yaml': `params:
  data: {source: "${server.url('/book.zip')}", val_pattern: _01_}
  audio: {sample_rate: 24000}
stages:
  download:
    uses: download
    with:
      source: \${data.source}
      retry_base_ms: 5
  resample:
    uses: resample
    needs: {audio: download}
    with:
      sample_rate: \${audio.sample_rate}
      val_pattern: \${data.val_pattern}
`,
  });
});
after(async () => {
  ws.remove();
  await server.close();
});

test('12 chapters over HTTP (with a dropped connection) become 24 kHz mono WAVs, chapter 01 held out', async () => {
  const r = await runJson(ws.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.status, { download: 'ran', resample: 'ran' });
  const hits = server.hits('/book.zip');
  assert.ok(hits.length >= 2 && hits.some((h) => h.range?.startsWith('bytes=')), JSON.stringify(hits));

  const manifest = JSON.parse(ws.read('runs/pipeline/resample/manifest.json'));
  assert.equal(manifest.files.length, 12);
  assert.deepEqual(
    manifest.files.filter((f: { split: string }) => f.split === 'val').map((f: { file: string }) => f.file),
    ['wav/sherlock/adventuresholmes_01_doyle_64kb.wav'],
  );
  for (const [i, f] of manifest.files.entries()) {
    const wav = readWavWithWavefile(readFileSync(ws.path(`runs/pipeline/resample/${f.file}`)));
    assert.equal(wav.sampleRate, 24000);
    const measured = toneFrequency(wav.samples, 24000);
    assert.ok(Math.abs(measured - hz(i + 1)) < 0.5, `${f.file}: ${measured} Hz, expected ${hz(i + 1)}`);
  }
});

test('a second run is fully cached; audio.sample_rate=16000 reruns resample only', async () => {
  const before = server.requests.length;
  assert.deepEqual((await runJson(ws.dir)).status, { download: 'cached', resample: 'cached' });
  const r = await runJson(ws.dir, ['--set', 'audio.sample_rate=16000']);
  assert.deepEqual(r.status, { download: 'cached', resample: 'ran' });
  assert.equal(server.requests.length, before, 'nothing was downloaded again');
  const manifest = JSON.parse(ws.read('runs/pipeline/resample/manifest.json'));
  assert.equal(manifest.sample_rate, 16000);
});
