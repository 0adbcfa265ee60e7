// The memory estimate of an onnxruntime training step (stages/model/onnx/memory.ts) against the
// peak RSS measured on this kind of machine (bench/train-worker.ts, VmHWM, onnxruntime-node 1.30,
// 2 threads): never below a measurement, at most 30% above; and the micro-batch it names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimateStepBytes, fittingMicroBatch } from '../../stages/model/onnx/memory.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
// [layers, context, vocab, micro-batch, measured peak MiB]; 12 heads, 768 wide.
const MEASURED: [number, number, number, number, number][] = [
  [12, 2048, 16384, 1, 6057], // the original model
  [12, 2048, 16384, 2, 10566],
  [1, 2048, 16384, 1, 1533],
  [1, 2048, 16384, 2, 2590],
  [2, 2048, 16384, 1, 2164],
  [2, 2048, 16384, 2, 3605],
  [1, 1024, 16384, 1, 921],
  [1, 1024, 16384, 2, 1352],
  [1, 2048, 4160, 1, 1293],
  [1, 2048, 4160, 2, 2321],
];
const original = { vocabSize: 16384, blockSize: 2048, nLayer: 12, nHead: 12, nEmbd: 768 };

test('the estimate is within [1.0, 1.3] of every measured peak', () => {
  for (const [nLayer, blockSize, vocabSize, mb, measured] of MEASURED) {
    const estimate = estimateStepBytes({ vocabSize, blockSize, nLayer, nHead: 12, nEmbd: 768 }, mb) / MiB;
    const ratio = estimate / measured;
    assert.ok(
      ratio >= 1 && ratio <= 1.3,
      `${nLayer} layers, T ${blockSize}, V ${vocabSize}, mb ${mb}: ${ratio}`,
    );
  }
});

test('the original model: micro-batch 8 does not fit in 24 GiB, 4 does', () => {
  assert.ok(estimateStepBytes(original, 8) > 24 * GiB);
  assert.equal(fittingMicroBatch(original, 16, 24 * GiB), 4);
  assert.equal(fittingMicroBatch(original, 16, 8 * GiB), 1);
  assert.equal(fittingMicroBatch(original, 16, 2 * GiB), 0);
});
