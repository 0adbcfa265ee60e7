// The codec stage with the test codec: local files, an http URL and an hf: path served from
// 127.0.0.1, the facts it measures, and a model with the wrong contract.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startServer, type TestServer } from '../helpers/http-server.ts';
import { buildTestCodec } from '../helpers/test-codec.ts';
import { cli, makeWorkspace, runJson, type Workspace } from '../helpers/workspace.ts';

const pipeline = (encoder: string, decoder: string) => `stages:
  codec:
    uses: codec
    with:
      encoder: "${encoder}"
      decoder: "${decoder}"
`;

const EXPECTED = {
  sample_rate: 24000,
  hop_length: 512,
  levels: 3,
  strides: [4, 2, 1],
  frame_samples: 2048,
  pad_multiple: 2048,
  codebook_size: 4096,
  encoder: { input: 'input_values', outputs: ['codes_0', 'codes_1', 'codes_2'] },
  decoder: { inputs: ['codes_0', 'codes_1', 'codes_2'], output: 'audio_values' },
  batch: { encoder: 'dynamic', decoder: 'dynamic' },
  random_ops: [{ node: 'noise', op: 'RandomNormalLike' }],
};

describe('codec stage', () => {
  const codec = buildTestCodec();
  let server: TestServer;
  let ws: Workspace;
  const saved = process.env.HF_ENDPOINT;

  before(async () => {
    server = await startServer({
      '/models/encoder.onnx': { body: Buffer.from(codec.encoder) },
      '/models/decoder.onnx': { body: Buffer.from(codec.decoder) },
      '/someone/test-codec/resolve/main/onnx/encoder.onnx': { body: Buffer.from(codec.encoder) },
      '/someone/test-codec/resolve/main/onnx/decoder.onnx': { body: Buffer.from(codec.decoder) },
    });
    process.env.HF_ENDPOINT = server.origin;
    ws = makeWorkspace({});
    mkdirSync(ws.path('models'));
    writeFileSync(ws.path('models/encoder.onnx'), codec.encoder);
    writeFileSync(ws.path('models/decoder.onnx'), codec.decoder);
  });
  after(async () => {
    ws.remove();
    await server.close();
    if (saved === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = saved;
  });

  for (const [form, encoder, decoder] of [
    ['local paths', 'models/encoder.onnx', 'models/decoder.onnx'],
    ['http URLs', 'URL/models/encoder.onnx', 'URL/models/decoder.onnx'],
    ['hf: paths', 'hf:someone/test-codec/onnx/encoder.onnx', 'hf:someone/test-codec/onnx/decoder.onnx'],
  ] as const) {
    test(`${form}: the models land in the cache and codec.json holds the measured facts`, async () => {
      const at = (s: string) => s.replace('URL', server.origin);
      ws.write('pipeline.yaml', pipeline(at(encoder), at(decoder)));
      const r = await runJson(ws.dir);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(ws.read('runs/pipeline/codec/codec.json')), EXPECTED);
      assert.equal(ws.read('runs/pipeline/codec/encoder.onnx').length > 0, true);
    });
  }

  test('a local model is keyed by its content', async () => {
    ws.write('pipeline.yaml', pipeline('models/encoder.onnx', 'models/decoder.onnx'));
    assert.equal((await runJson(ws.dir)).status.codec, 'cached');
    writeFileSync(ws.path('models/decoder.onnx'), buildTestCodec({ steps: 4 }).decoder);
    const status = JSON.parse((await cli(ws.dir, ['status', 'pipeline.yaml', '--json'])).stdout);
    assert.deepEqual(status.experiments[0].stages[0].reasons, ['dep models/decoder.onnx changed']);
    writeFileSync(ws.path('models/decoder.onnx'), codec.decoder);
  });

  test('a model with the wrong contract fails with which tensor and which shape', async () => {
    ws.write('pipeline.yaml', pipeline('models/decoder.onnx', 'models/decoder.onnx'));
    const r = await runJson(ws.dir);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /encoder: its inputs should be one audio tensor, got 3 \(codes_0, codes_1, codes_2\)/,
    );
  });

  test('models exported for a fixed batch: recorded for the encoder, refused for a decoder above 1', async () => {
    const two = buildTestCodec({ batch: 2 });
    writeFileSync(ws.path('models/encoder-b2.onnx'), two.encoder);
    writeFileSync(ws.path('models/decoder-b2.onnx'), two.decoder);
    ws.write('pipeline.yaml', pipeline('models/encoder-b2.onnx', 'models/decoder.onnx'));
    const ok = await runJson(ws.dir);
    assert.equal(ok.code, 0, ok.stderr);
    const facts = JSON.parse(ws.read('runs/pipeline/codec/codec.json'));
    assert.deepEqual(facts.batch, { encoder: 2, decoder: 'dynamic' });
    assert.deepEqual([facts.hop_length, facts.codebook_size], [512, 4096]);
    ws.write('pipeline.yaml', pipeline('models/encoder.onnx', 'models/decoder-b2.onnx'));
    const bad = await runJson(ws.dir);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /decoder: input "codes_0" should be a batch of 1 or a dynamic batch \(sample decodes one sample per call\), got int64 \[2, frames_0\]/,
    );
  });
});
