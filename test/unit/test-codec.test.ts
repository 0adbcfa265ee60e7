// The test codec through a real onnxruntime-node session: SNAC's contract (names, shapes, dtypes,
// rates 1:2:4), codes equal to a plain-JS reference of the same math, and a decoder that gives back
// a close copy of low-frequency audio.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { buildTestCodec, encodeReference, testCodecWeights } from '../helpers/test-codec.ts';

test('the test codec runs in onnxruntime-node with the SNAC contract and matches its JS reference', async () => {
  const { encoder, decoder } = buildTestCodec();
  const enc = await ort.InferenceSession.create(encoder);
  const dec = await ort.InferenceSession.create(decoder);
  assert.deepEqual(enc.inputNames, ['input_values']);
  assert.deepEqual(enc.outputNames, ['codes_0', 'codes_1', 'codes_2']);
  assert.deepEqual(dec.outputNames, ['audio_values']);

  const T = 6144; // three coarse frames of 2048 samples
  const batch = 2;
  let seed = 7;
  const audio = Float32Array.from({ length: batch * T }, (_, i) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (
      0.3 * Math.sin((2 * Math.PI * 8 * (i % T)) / 24000 + (i >= T ? 2 : 0)) +
      0.05 * (seed / 0x7fffffff - 0.5)
    );
  });
  const out = await enc.run({ input_values: new ort.Tensor('float32', audio, [batch, 1, T]) });
  const weights = testCodecWeights();
  for (const b of [0, 1]) {
    const reference = encodeReference(weights, audio.subarray(b * T, (b + 1) * T));
    for (const [k, name] of enc.outputNames.entries()) {
      const codes: ort.Tensor = out[name as string]!;
      assert.equal(codes.type, 'int64');
      assert.deepEqual(codes.dims, [batch, 3 * 2 ** k]);
      const row = Array.from(codes.data as BigInt64Array, Number).slice(b * 3 * 2 ** k, (b + 1) * 3 * 2 ** k);
      assert.deepEqual(row, Array.from(reference[k]!), `${name}, batch ${b}`);
      assert.ok(row.every((c) => c >= 0 && c < 4096));
    }
  }
  const back = await dec.run(Object.fromEntries(enc.outputNames.map((n) => [n, out[n]!])));
  assert.deepEqual(back.audio_values!.dims, [batch, 1, T]);
  const y = back.audio_values!.data as Float32Array;
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < batch * T; i++) {
    xy += audio[i]! * y[i]!;
    xx += audio[i]! ** 2;
    yy += y[i]! ** 2;
  }
  assert.ok(
    xy / Math.sqrt(xx * yy) > 0.9,
    `decode(encode(x)) correlates ${(xy / Math.sqrt(xx * yy)).toFixed(3)}`,
  );
});
