// hashFile's streaming (reads in flight while it hashes) must give exactly the one-shot digest, at every size around
// its buffer boundaries (a chunk boundary bug would change digests silently).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashBytes, hashFile } from '../../src/cache/hash.ts';

test('streamed file digests equal one-shot digests around chunk boundaries', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2o-hash-'));
  try {
    const MiB = 1 << 20;
    const data = randomBytes(17 * MiB + 3);
    // Reads are 2 MiB, four in flight: sizes at, before and after chunk ends and ring wraps.
    const sizes = [0, 1, 2 * MiB - 1, 2 * MiB, 2 * MiB + 1, 8 * MiB, 8 * MiB + 1, 10 * MiB - 1];
    for (const size of [...sizes, 16 * MiB, 16 * MiB - 1, 17 * MiB + 3]) {
      const path = join(dir, `f${size}`);
      writeFileSync(path, data.subarray(0, size));
      const expected = await hashBytes(data.subarray(0, size));
      assert.equal(await hashFile(path), expected, `size ${size}, streamed`);
      assert.equal(await hashFile(path, size), expected, `size ${size}, with size`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a read that fails fails the hash with its error (the reads in flight beside it are awaited, never left unhandled)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2o-hash-'));
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    // Opening a folder succeeds; every read of it fails with EISDIR, the ones in flight included.
    await assert.rejects(hashFile(dir), { code: 'EISDIR' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a small file hashed with a stale size: its whole content, wherever the shared buffer was left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2o-hash-'));
  try {
    const big = randomBytes(300_000);
    const small = Buffer.from('seven\n');
    writeFileSync(join(dir, 'big'), big);
    writeFileSync(join(dir, 'small'), small);
    // The big file first grows the shared buffer; the small one must not see its leftovers.
    assert.equal(await hashFile(join(dir, 'big'), big.length), await hashBytes(big));
    assert.equal(await hashFile(join(dir, 'small'), small.length), await hashBytes(small));
    // The file grew (or shrank) after its size was taken: the digest is of what it holds now.
    assert.equal(await hashFile(join(dir, 'big'), 1000), await hashBytes(big));
    assert.equal(await hashFile(join(dir, 'small'), 100), await hashBytes(small));
    assert.equal(await hashFile(join(dir, 'small'), 2), await hashBytes(small));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('small files hashed at the same time each get their own digest (one shared read buffer)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2o-hash-'));
  try {
    const contents = Array.from({ length: 64 }, (_, i) => randomBytes(100 + i * 37));
    for (const [i, bytes] of contents.entries()) writeFileSync(join(dir, `f${i}`), bytes);
    const digests = await Promise.all(contents.map((bytes, i) => hashFile(join(dir, `f${i}`), bytes.length)));
    const expected = await Promise.all(contents.map((bytes) => hashBytes(bytes)));
    assert.deepEqual(digests, expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
