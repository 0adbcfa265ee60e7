// How `compare` prints a row of values: one format per row, so the columns read as one quantity.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRow } from '../../src/compare/text.ts';

test('numbers in one row share their decimals and get thousands separators', () => {
  // tokens/s of two runs, one a whole number by chance
  assert.deepEqual(formatRow([3954.2, 4820]), ['3,954.2', '4,820.0']);
  assert.deepEqual(formatRow([2.0988, 2.1429]), ['2.0988', '2.1429']);
  assert.deepEqual(formatRow([1, 0.95671]), ['1.0000', '0.9567']);
  // integers stay integers, however large
  assert.deepEqual(formatRow([370432, 4340000]), ['370,432', '4,340,000']);
  // exponents only for fractions far from 1; missing values and strings as they are
  assert.deepEqual(formatRow([0.00003, 0.0018]), ['3.000e-5', '0.0018']);
  assert.deepEqual(formatRow([undefined, 'wasm', true]), ['–', 'wasm', 'true']);
  assert.equal(formatRow(['wasm simd, 1 thread; 2 worker threads'])[0], 'wasm simd, 1 thread; 2 work…');
});
