import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProgress } from '../../src/report/progress-text.ts';
import { formatBytes, formatEta } from '../../src/stage-api/index.ts';
import { formatBytes as engineFormatBytes, formatEta as engineFormatEta } from '../../src/util/format.ts';

test("stages format sizes and times left with the engine's one formatter, not copies of their own", () => {
  assert.equal(formatBytes, engineFormatBytes);
  assert.equal(formatEta, engineFormatEta);
});

test('a time left reads as a clock, rounded up, and as "?" when unknown', () => {
  assert.equal(formatEta(0.2), '0:01');
  assert.equal(formatEta(75), '1:15');
  assert.equal(formatEta(3700), '1:01:40');
  assert.equal(formatEta(Number.POSITIVE_INFINITY), '?');
  assert.equal(formatEta(Number.NaN), '?');
});

test('progress reads as sizes for bytes and as numbers otherwise', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(65536), '64 KiB');
  assert.equal(formatBytes(1.5 * 2 ** 30), '1.5 GiB');
  // A rate (bytes per second) is rarely whole: below 1 KiB it rounds, as every size does.
  assert.equal(formatBytes(512.3333), '512 B');
  assert.equal(
    formatProgress({ done: 65536, total: 91063, unit: 'bytes', message: 'ch01.mp3' }),
    '64 KiB/89 KiB (72%) ch01.mp3',
  );
  assert.equal(
    formatProgress({ done: 52.7, unit: 's of audio', message: '3/3 files' }),
    '52.7 s of audio 3/3 files',
  );
});
