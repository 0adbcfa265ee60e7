// Token layouts: flatten/unflatten round-trips for random codes, the gpt2o layout byte for byte as
// the original script orders it, legal ids per position, resynchronisation on malformed streams,
// and .npy files that NumPy reads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { allocateCodes, type LevelCodes } from '../../stages/tokens/codes.ts';
import { LAYOUT_NAMES, makeLayout } from '../../stages/tokens/layout-registry.ts';
import { npyHeader, writeNpy } from '../../stages/tokens/npy.ts';

const codesArb = (codebook: number) =>
  fc.integer({ min: 0, max: 40 }).chain((frames) =>
    fc
      .tuple(
        fc.array(fc.integer({ min: 0, max: codebook - 1 }), { minLength: frames, maxLength: frames }),
        fc.array(fc.integer({ min: 0, max: codebook - 1 }), {
          minLength: 2 * frames,
          maxLength: 2 * frames,
        }),
        fc.array(fc.integer({ min: 0, max: codebook - 1 }), {
          minLength: 4 * frames,
          maxLength: 4 * frames,
        }),
      )
      .map(
        ([a, b, c]): LevelCodes => ({
          levels: [Uint16Array.from(a), Uint16Array.from(b), Uint16Array.from(c)],
        }),
      ),
  );

describe('token layouts', () => {
  for (const name of LAYOUT_NAMES) {
    test(`${name}: unflatten(flatten(codes)) is the codes, and every token is legal at its position`, () => {
      const layout = makeLayout(name, 4096);
      fc.assert(
        fc.property(codesArb(4096), (codes) => {
          const tokens = layout.flatten(codes);
          assert.equal(tokens.length, codes.levels[0].length * 8);
          const back = layout.unflatten(tokens);
          assert.deepEqual(back.levels, codes.levels);
          assert.equal(back.dropped, 0);
          tokens.forEach((t, p) => {
            const { min, max } = layout.legalAt(p);
            assert.ok(t >= min && t <= max && t < layout.spec.vocabSize, `token ${t} at ${p}`);
          });
        }),
        { numRuns: 200 },
      );
    });

    test(`${name}: malformed streams resynchronise on frame markers and drop broken frames`, () => {
      const layout = makeLayout(name, 4096);
      fc.assert(
        fc.property(
          codesArb(4096),
          fc.integer({ min: 0, max: 1000 }),
          fc.integer({ min: 1, max: 12 }),
          (codes, seed, cut) => {
            const tokens = Array.from(layout.flatten(codes));
            const frames = codes.levels[0].length;
            if (frames < 2) return;
            // Cut `cut` tokens out of frame k (breaking it) and add garbage before the stream.
            const k = seed % frames;
            tokens.splice(k * 8 + 1, Math.min(cut, 7));
            const back = layout.unflatten([layout.spec.vocabSize + 5, ...tokens]);
            assert.equal(back.levels[0].length, frames - 1);
            assert.equal(back.dropped, 1);
            // The frames that survive are the others, in order.
            const expected = Array.from(codes.levels[0]).filter((_, i) => i !== k);
            assert.deepEqual(Array.from(back.levels[0]), expected);
          },
        ),
        { numRuns: 200 },
      );
    });
  }

  test('gpt2o: the original order, byte for byte', () => {
    const codes = allocateCodes(2);
    codes.levels[0].set([10, 11]);
    codes.levels[1].set([20, 21, 22, 23]);
    codes.levels[2].set([30, 31, 32, 33, 34, 35, 36, 37]);
    const tokens = makeLayout('gpt2o', 4096).flatten(codes);
    // 4097, c0[i], c1[2i], c2[4i], c2[4i+1], c1[2i+1], c2[4i+2], c2[4i+3] per frame, no trailing separator.
    assert.deepEqual(
      Array.from(tokens),
      [4097, 10, 20, 30, 31, 21, 32, 33, 4097, 11, 22, 34, 35, 23, 36, 37],
    );
    assert.deepEqual(Buffer.from(tokens.buffer).subarray(0, 4), Buffer.from([0x01, 0x10, 0x0a, 0x00]));
  });

  test('offset: each code position has its own id range after the two special tokens', () => {
    const layout = makeLayout('offset', 4096);
    assert.equal(layout.spec.vocabSize, 2 + 7 * 4096);
    assert.deepEqual(layout.legalAt(0), { min: 0, max: 0 });
    assert.deepEqual(layout.legalAt(1), { min: 2, max: 4097 });
    assert.deepEqual(layout.legalAt(7), { min: 2 + 6 * 4096, max: 1 + 7 * 4096 });
    assert.equal(layout.spec.decode(1, 2 + 4096 + 5), 5);
    assert.equal(layout.spec.decode(1, 2 + 5), -1);
    assert.throws(() => makeLayout('gpt2o', 8192), /up to 4096/);
  });
});

describe('.npy files', () => {
  test('the header follows format 1.0, is 64-byte aligned, and NumPy reads the tokens back', () => {
    for (const n of [0, 1, 1000, 123456]) {
      const header = npyHeader(n);
      assert.equal(header.length % 64, 0);
      assert.deepEqual([...header.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      assert.equal(header.readUInt16LE(8), header.length - 10);
      assert.equal(
        header.toString('latin1', 10).trimEnd(),
        `{'descr': '<u2', 'fortran_order': False, 'shape': (${n},), }`,
      );
      assert.equal(header[header.length - 1], 0x0a);
    }
    const dir = mkdtempSync(join(tmpdir(), 'gpt2o-npy-'));
    try {
      const tokens = Uint16Array.from({ length: 5000 }, (_, i) => (i * 7919) % 4098);
      const path = join(dir, 'train_000000.npy');
      writeNpy(path, tokens);
      const bytes = readFileSync(path);
      assert.deepEqual(
        new Uint16Array(bytes.buffer.slice(bytes.byteOffset + 128, bytes.byteOffset + bytes.length)),
        tokens,
      );
      // Where NumPy is installed (Debian's python3-numpy), it must read the file as written.
      const numpy = spawnSync(
        '/usr/bin/python3',
        [
          '-c',
          `import numpy as np; a = np.load(${JSON.stringify(path)}); print(a.dtype, a.shape, int(a.sum()))`,
        ],
        { encoding: 'utf8' },
      );
      if (numpy.status === 0) {
        assert.equal(numpy.stdout.trim(), `uint16 (5000,) ${tokens.reduce((s, t) => s + t, 0)}`);
      } else {
        assert.match(numpy.stderr + String(numpy.error ?? ''), /No module named 'numpy'|ENOENT/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
