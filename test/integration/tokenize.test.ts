// tokenize and the whole audio → tokens chain with the test codec: exact codes at chunk and padding
// boundaries (a chapter of 3 s + 1 sample), the codes contract shard reads, and
// download → resample → codec → tokenize → shard end to end, where train.* never invalidates tokens.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CacheLayout } from '../../src/cache/layout.ts';
import { toPcm16Sample } from '../../stages/audio/simd-kernel.ts';
import { WavWriter } from '../../stages/audio/wav-writer.ts';
import { cudaProviderLibrary } from '../../stages/lib/device.ts';
import { readNpyUint16 } from '../../stages/tokens/npy-read.ts';
import { wavHeaderBytes } from '../helpers/audio.ts';
import { buildTestCodec, encodeReference, testCodecWeights, writeTestCodec } from '../helpers/test-codec.ts';
import { cli, makeWorkspace, REPO, runJson, type Workspace } from '../helpers/workspace.ts';

function writeModels(ws: Workspace): void {
  writeTestCodec(ws.path('models'));
}

describe('tokenize', () => {
  let ws: Workspace;
  // 3 s + 1 sample: windows of 35 coarse frames (2.99 s), then one real sample in a padded window.
  const samples = 3 * 24000 + 1;
  const audio = Float32Array.from(
    { length: samples },
    (_, i) => 0.4 * Math.sin((2 * Math.PI * 5 * i) / 24000) + 0.1 * Math.sin(i * 0.01),
  );

  before(() => {
    ws = makeWorkspace({
      'pipeline.yaml': `params:
  codec: {pad_multiple: 0, models: models, device: cpu}
stages:
  audio:
    cmd: cp -r data/wav wav && cp data/manifest.json manifest.json
    deps: [data]
    outs: [wav, manifest.json]
  codec:
    uses: codec
    with:
      encoder: \${codec.models}/encoder.onnx
      decoder: \${codec.models}/decoder.onnx
      pad_multiple: \${codec.pad_multiple}
  tokenize:
    uses: tokenize
    needs: {audio: audio, codec: codec}
    with: {chunk_seconds: 3, batch_size: 2, device: "\${codec.device}"}
  shard:
    uses: shard
    needs: {codes: tokenize}
    with: {shard_tokens: 1000}
`,
    });
    writeModels(ws);
    mkdirSync(ws.path('data/wav'), { recursive: true });
    // The same audio as float32 and as 16-bit PCM (which tokenize converts in its SIMD kernel).
    for (const [name, format] of [
      ['book_01_x', 'float32'],
      ['book_02_x', 'pcm16'],
    ] as const) {
      const writer = new WavWriter(ws.path(`data/wav/${name}.wav`), 24000, format);
      writer.write(audio);
      writer.close();
    }
    const files = ['book_01_x', 'book_02_x'].map((n) => ({
      file: `wav/${n}.wav`,
      split: 'val',
      seconds: samples / 24000,
    }));
    writeFileSync(ws.path('data/manifest.json'), JSON.stringify({ sample_rate: 24000, files }));
  });
  after(() => ws.remove());

  test('codes equal the codec applied to the audio padded to whole coarse frames', async () => {
    const r = await runJson(ws.dir);
    assert.equal(r.code, 1, 'shard fails: every chapter is val');
    assert.deepEqual(Object.fromEntries(Object.entries(r.status).filter(([k]) => k !== 'shard')), {
      audio: 'ran',
      codec: 'ran',
      tokenize: 'ran',
    });
    const manifest = JSON.parse(ws.read('runs/pipeline/tokenize/manifest.json'));
    assert.deepEqual(
      manifest.chapters,
      ['book_01_x', 'book_02_x'].map((n) => ({
        dir: `codes/${n}`,
        source: `wav/${n}.wav`,
        split: 'val',
        frames: 36,
        seconds: samples / 24000,
      })),
    );
    assert.deepEqual([manifest.codebook_size, manifest.sample_rate, manifest.hop_length], [4096, 24000, 512]);
    const quantized = audio.map((x) => toPcm16Sample(x) / 32768);
    for (const [name, source] of [
      ['book_01_x', audio],
      ['book_02_x', quantized],
    ] as const) {
      const padded = new Float32Array(36 * 2048);
      padded.set(source);
      const reference = encodeReference(testCodecWeights(), padded);
      for (const k of [0, 1, 2]) {
        const codes = readNpyUint16(ws.path(`runs/pipeline/tokenize/codes/${name}/level${k}.npy`));
        assert.deepEqual(Array.from(codes), Array.from(reference[k]!), `${name} level ${k}`);
      }
    }
    assert.match(r.stderr, /no train tokens: every chapter is in val/);
    // Speed as × realtime: audio seconds (the manifest's) over the stage's own seconds.
    const key = r.json.stages.find((st) => st.name === 'tokenize')!.key!;
    const { metrics } = JSON.parse(readFileSync(new CacheLayout(ws.path('cache')).record(key), 'utf8'));
    const audioSeconds = manifest.chapters.reduce((s: number, c: { seconds: number }) => s + c.seconds, 0);
    assert.equal(metrics.audio_seconds, audioSeconds);
    assert.ok(metrics.stage_seconds > 0 && metrics.stage_seconds >= metrics.inference_seconds);
    const engineSeconds = r.json.stages.find((st) => st.name === 'tokenize')!.seconds;
    assert.ok(
      metrics.stage_seconds <= engineSeconds,
      `${metrics.stage_seconds} s within the engine's ${engineSeconds} s`,
    );
    assert.ok(
      Math.abs(metrics.realtime_factor - audioSeconds / metrics.stage_seconds) <
        1e-9 * metrics.realtime_factor,
    );
    assert.match(r.stderr, /· tokenize +\d+\/6 s of audio \(\d+%\) [\d.]+× realtime/);
  });

  test('a larger pad multiple (whole attention windows) aligns windows to it and keeps the same codes', async () => {
    const before = ws.read('runs/pipeline/tokenize/codes/book_02_x/level2.npy');
    const r = await runJson(ws.dir, ['--set', 'codec.pad_multiple=4096']);
    assert.deepEqual([r.status.codec, r.status.tokenize], ['ran', 'ran']);
    const facts = JSON.parse(ws.read('runs/pipeline/codec/codec.json'));
    assert.deepEqual([facts.frame_samples, facts.pad_multiple], [2048, 4096]);
    const manifest = JSON.parse(ws.read('runs/pipeline/tokenize/manifest.json'));
    assert.deepEqual(
      manifest.chapters.map((c: { frames: number }) => c.frames),
      [36, 36],
    );
    // The test codec encodes each coarse frame on its own, so the codes cannot depend on the windows.
    assert.equal(ws.read('runs/pipeline/tokenize/codes/book_02_x/level2.npy'), before);
    const bad = await runJson(ws.dir, ['--set', 'codec.pad_multiple=3000']);
    assert.equal(bad.status.codec, 'failed');
    assert.match(
      bad.stderr,
      /pad_multiple 3000 is not a multiple of the codec's coarse frame \(2048 samples\)/,
    );
  });

  test('a codec exported for batch 1 is recorded by codec and run one window per call, to the same codes', async () => {
    const dynamic = ['book_01_x', 'book_02_x'].map((n) =>
      ws.read(`runs/pipeline/tokenize/codes/${n}/level2.npy`),
    );
    const fixed = buildTestCodec({ batch: 1 });
    mkdirSync(ws.path('models-b1'), { recursive: true });
    writeFileSync(ws.path('models-b1/encoder.onnx'), fixed.encoder);
    writeFileSync(ws.path('models-b1/decoder.onnx'), fixed.decoder);
    const r = await runJson(ws.dir, ['--set', 'codec.models=models-b1']);
    assert.deepEqual([r.status.codec, r.status.tokenize], ['ran', 'ran'], r.stderr);
    assert.deepEqual(JSON.parse(ws.read('runs/pipeline/codec/codec.json')).batch, { encoder: 1, decoder: 1 });
    const key = r.json.stages.find((st) => st.name === 'tokenize')!.key;
    assert.match(
      ws.read(`cache/logs/${key}.log`),
      /encoder\.onnx was exported for a fixed batch of 1: 1 window\(s\) per call, not codec\.batch_size 2/,
    );
    assert.deepEqual(
      ['book_01_x', 'book_02_x'].map((n) => ws.read(`runs/pipeline/tokenize/codes/${n}/level2.npy`)),
      dynamic,
    );
    // Fixed at 3: each chapter's two windows go in one call, padded with a silent third.
    const three = buildTestCodec({ batch: 3 });
    mkdirSync(ws.path('models-b3'), { recursive: true });
    writeFileSync(ws.path('models-b3/encoder.onnx'), three.encoder);
    writeFileSync(ws.path('models-b3/decoder.onnx'), fixed.decoder);
    const r3 = await runJson(ws.dir, ['--set', 'codec.models=models-b3']);
    assert.deepEqual([r3.status.codec, r3.status.tokenize], ['ran', 'ran'], r3.stderr);
    assert.deepEqual(
      ['book_01_x', 'book_02_x'].map((n) => ws.read(`runs/pipeline/tokenize/codes/${n}/level2.npy`)),
      dynamic,
    );
  });

  test('device cuda without the CUDA provider installed fails with the command that installs it', async (t) => {
    if (existsSync(cudaProviderLibrary())) return t.skip('onnxruntime-node has its CUDA provider here');
    const r = await runJson(ws.dir, ['--set', 'codec.device=cuda']);
    assert.equal(r.status.tokenize, 'failed');
    assert.match(
      r.stderr,
      /codec\.device: cuda, but onnxruntime-node's CUDA execution provider is not installed \(no .*libonnxruntime_providers_cuda\.so\)/,
    );
    assert.match(r.stderr, /ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/);
    assert.doesNotMatch(r.stderr, /bug in the built-in stage|internal error/);
    const other = await cli(ws.dir, ['run', '--set', 'codec.device=rocm']);
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, /stages\.tokenize\.with\.device: expected \("cpu" \| "cuda"\), got "rocm"/);
  });

  test("tokenize's old word for the device, provider, is refused at its key with the fix", async () => {
    // One word for one concept (train.device): the old spelling is an error, not a second name.
    const pipeline = readFileSync(ws.path('pipeline.yaml'), 'utf8');
    try {
      writeFileSync(
        ws.path('pipeline.yaml'),
        pipeline.replace('device: "${codec.device}"', 'provider: "${codec.device}"'),
      );
      const r = await cli(ws.dir, ['run', '--set', 'codec.device=cuda']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /pipeline\.yaml:\d+:\d+ .*\n.*provider was renamed device \(one word for where a model runs, as train\.device\): write device: cuda; in pipeline\.yaml's params, codec\.device/,
      );
      // An old param name in --set is an unknown param that points at the new one.
      const old = await cli(ws.dir, ['run', '--set', 'codec.provider=cuda']);
      assert.equal(old.code, 2, old.stderr);
      assert.match(old.stderr, /unknown param "codec\.provider"/);
      assert.match(old.stderr, /hint: valid params under codec: .*codec\.device;/);
    } finally {
      writeFileSync(ws.path('pipeline.yaml'), pipeline);
    }
  });

  test('an encoder that rejects the windows fails naming the model, the tensor and what it declares', async () => {
    // Exported for one length (the codec stage's 32768-sample probe): tokenize's 3 s windows do not fit.
    const oneLength = buildTestCodec({ samples: 32768 });
    mkdirSync(ws.path('models-len'), { recursive: true });
    writeFileSync(ws.path('models-len/encoder.onnx'), oneLength.encoder);
    writeFileSync(ws.path('models-len/decoder.onnx'), oneLength.decoder);
    const r = await runJson(ws.dir, ['--set', 'codec.models=models-len']);
    assert.deepEqual([r.status.codec, r.status.tokenize], ['ran', 'failed'], r.stderr);
    assert.match(
      r.stderr,
      /encoder\.onnx rejected input_values float32 \[2, 1, 71680\]: .*input_values.* \(the model declares input_values float32 \[batch, 1, 32768\]\)/,
    );
    assert.match(r.stderr, /the SNAC ONNX contract/);
    assert.doesNotMatch(r.stderr, /bug in the built-in stage|internal error/);
  });
});

describe('download → resample → codec → tokenize → shard', () => {
  test('runs on the demo corpus with the test codec; train.* leaves tokens cached, a layout change reruns shard only', async () => {
    const ws = makeWorkspace({});
    try {
      cpSync(join(REPO, 'experiments/demo-data'), ws.path('demo-data'), { recursive: true });
      writeModels(ws);
      ws.write(
        'pipeline.yaml',
        `params:
  data: {source: demo-data}
  audio: {sample_rate: 24000}
  tokens: {layout: gpt2o, shard_tokens: 2000}
  train: {context_length: 512}
stages:
  download:
    uses: download
    with: {source: "\${data.source}"}
  resample:
    uses: resample
    needs: {audio: download}
    with:
      sample_rate: \${audio.sample_rate}
  codec:
    uses: codec
    with: {encoder: models/encoder.onnx, decoder: models/decoder.onnx}
  tokenize:
    uses: tokenize
    needs: {audio: resample, codec: codec}
  shard:
    uses: shard
    needs: {codes: tokenize}
    with:
      layout: \${tokens.layout}
      shard_tokens: \${tokens.shard_tokens}
  train:
    cmd: echo ctx=\${train.context_length} > model.txt && ls shard > shards.txt
    needs: [shard]
    outs: [model.txt, shards.txt]
`,
      );
      const first = await runJson(ws.dir);
      assert.equal(first.code, 0, first.stderr);
      const meta = JSON.parse(ws.read('runs/pipeline/shard/meta.json'));
      // 52.7 s of speech at 24 kHz: 2048 samples per coarse frame, 8 tokens per frame.
      assert.equal(meta.layout, 'gpt2o');
      assert.equal(meta.total.tokens, 8 * meta.total.frames);
      assert.ok(Math.abs(meta.total.audio_seconds - 52.66) < 0.05, `${meta.total.audio_seconds} s`);
      assert.ok(
        Math.abs(meta.tokens_per_audio_second - (8 * 24000) / 2048) < 1,
        `${meta.tokens_per_audio_second} tokens/s`,
      );
      assert.ok(meta.val.frames > 0 && meta.train.frames > 0);
      assert.match(ws.read('runs/pipeline/train/shards.txt'), /train_000000\.npy/);

      const ctx = await runJson(ws.dir, ['--set', 'train.context_length=1024']);
      assert.deepEqual(ctx.status, {
        download: 'cached',
        resample: 'cached',
        codec: 'cached',
        tokenize: 'cached',
        shard: 'cached',
        train: 'ran',
      });
      const layout = await runJson(ws.dir, ['--set', 'tokens.layout=offset']);
      assert.deepEqual(layout.status, {
        download: 'cached',
        resample: 'cached',
        codec: 'cached',
        tokenize: 'cached',
        shard: 'ran',
        train: 'ran',
      });
    } finally {
      ws.remove();
    }
  });
});

// What a cmd stage hands tokenize as audio is the user's data: a broken manifest, a path out of
// the input or a WAV with a bad header is a stage error naming it, not a crash.
describe('tokenize on bad audio inputs', () => {
  const CASES: { name: string; manifest: string; wav?: Uint8Array; codec?: string; error: RegExp }[] = [
    {
      name: 'a manifest.json that is not JSON',
      manifest: '{"sample_rate": 24000, "files": [',
      error: /the input has no readable manifest\.json \(.*JSON.*\)/,
    },
    {
      name: 'a manifest without files',
      manifest: JSON.stringify({ sample_rate: 24000 }),
      error: /the input's manifest\.json is not a valid audio manifest: files is missing/,
    },
    {
      name: 'a file outside the input',
      manifest: JSON.stringify({
        sample_rate: 24000,
        files: [{ file: '../../../../x.wav', split: 'train' }],
      }),
      error:
        /not a valid audio manifest: files\[0\]\.file is "\.\.\/\.\.\/\.\.\/\.\.\/x\.wav", which is not a path inside it \("\.\." segment\)/,
    },
    {
      // A cmd stage standing in for codec: its codec.json was cast and used, and crashed on .map.
      name: "a codec.json without the levels' strides",
      manifest: JSON.stringify({ sample_rate: 24000, files: [] }),
      codec: JSON.stringify({
        sample_rate: 24000,
        hop_length: 512,
        frame_samples: 2048,
        pad_multiple: 2048,
        codebook_size: 4096,
        encoder: { input: 'audio', outputs: ['c0', 'c1', 'c2'] },
        decoder: { inputs: ['c0', 'c1', 'c2'], output: 'audio' },
      }),
      error: /the input's codec\.json is not a valid codec facts file: strides is missing/,
    },
    {
      name: 'a WAV whose header says sample rate 0',
      manifest: JSON.stringify({
        sample_rate: 24000,
        files: [{ file: 'wav/a.wav', split: 'train', seconds: 1 }],
      }),
      wav: wavHeaderBytes({ sampleRate: 0 }),
      error: /its sample rate is 0 Hz/,
    },
  ];
  for (const c of CASES) {
    test(c.name, async () => {
      const ws = makeWorkspace({
        'pipeline.yaml': `stages:
  audio:
    cmd: cp -r data/. .
    deps: [data]
    outs: [wav, manifest.json]
  codec:
${
  c.codec === undefined
    ? '    uses: codec\n    with: {encoder: models/encoder.onnx, decoder: models/decoder.onnx}'
    : '    cmd: cp codec-data/codec.json .\n    deps: [codec-data]\n    outs: [codec.json]'
}
  tokenize:
    uses: tokenize
    needs: {audio: audio, codec: codec}
`,
        'data/manifest.json': c.manifest,
        ...(c.codec === undefined ? {} : { 'codec-data/codec.json': c.codec }),
      });
      try {
        writeModels(ws);
        mkdirSync(ws.path('data/wav'));
        writeFileSync(ws.path('data/wav/a.wav'), c.wav ?? wavHeaderBytes({ sampleRate: 24000 }));
        const r = await runJson(ws.dir);
        assert.equal(r.status.tokenize, 'failed', r.stderr);
        assert.match(r.stderr, /error E_STAGE_FAILED \(stage "tokenize"\)/);
        assert.match(r.stderr, c.error);
        assert.doesNotMatch(r.stderr, /looks like a bug|internal error/);
      } finally {
        ws.remove();
      }
    });
  }
});
