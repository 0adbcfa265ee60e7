// evaluate's per-place and per-level loss buckets, on hand-built token streams with exact sums.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketLosses } from '../../stages/model/loss-buckets.ts';

const M = 9; // the frame marker of this hand-built layout
const spec = { tokensPerFrame: 8, frameStart: M };

test('each target goes to its place in the frame, places sum up by codebook level', () => {
  // stream[0] is no marker (its place is unknown); then a whole frame, a code that overruns it,
  // and a second frame cut after two codes. losses[j - 1] is the loss of predicting stream[j].
  const stream = [3, M, 1, 1, 1, 1, 1, 1, 1, 1, M, 1, 1];
  const losses = [1, 2, 3, 4, 5, 6, 7, 8, 100, 10, 20, 30];
  const b = bucketLosses(stream, losses, spec);
  assert.deepEqual(b.byPosition, [
    { sum: 11, count: 2 }, // markers: 1 + 10
    { sum: 22, count: 2 }, // code position 0 (level 0): 2 + 20
    { sum: 33, count: 2 }, // position 1 (level 1): 3 + 30
    { sum: 4, count: 1 },
    { sum: 5, count: 1 },
    { sum: 6, count: 1 },
    { sum: 7, count: 1 },
    { sum: 8, count: 1 },
  ]);
  assert.deepEqual(b.other, { sum: 100, count: 1 }); // the ninth token of a frame of eight
  assert.deepEqual(b.levelOf, [0, 1, 2, 2, 1, 2, 2]);
  assert.deepEqual(b.byLevel, {
    '0': { loss: 11, tokens: 2 }, // 22 / 2
    '1': { loss: 13, tokens: 3 }, // (33 + 6) / 3
    '2': { loss: 6, tokens: 4 }, // (4 + 5 + 7 + 8) / 4
  });
});

test('a marker as the first token places the next one; a level with no tokens has NaN loss', () => {
  const b = bucketLosses([M, 1, 1], [0.5, 1.5], spec);
  assert.deepEqual(
    b.byPosition.map((p) => p.count),
    [0, 1, 1, 0, 0, 0, 0, 0],
  );
  assert.deepEqual(b.byLevel['0'], { loss: 0.5, tokens: 1 });
  assert.deepEqual(b.byLevel['1'], { loss: 1.5, tokens: 1 });
  assert.equal(b.byLevel['2']!.tokens, 0);
  assert.ok(Number.isNaN(b.byLevel['2']!.loss));
  assert.equal(b.other.count, 0);
});

test('a stream without any marker puts every target in other', () => {
  const b = bucketLosses(Uint16Array.of(1, 2, 3, 4), Float32Array.of(1, 2, 4), spec);
  assert.deepEqual(b.other, { sum: 7, count: 3 });
  assert.ok(b.byPosition.every((p) => p.count === 0));
});
