// Keys must not depend on how a description was built: key order, insertion order, whitespace.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { canonicalJson } from '../../src/cache/canonical.ts';
import { hashBytes } from '../../src/cache/hash.ts';
import { manifestJson } from '../../src/cache/tree-manifest.ts';

function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, seed));
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => [k, shuffleKeys(v, seed)] as const);
    entries.sort((a, b) => ((a[0].length * seed) % 7) - ((b[0].length * seed) % 7) || (seed % 2 ? -1 : 1));
    return Object.fromEntries(entries);
  }
  return value;
}

describe('canonical JSON and keys', () => {
  test('sorted keys, no whitespace, undefined members dropped', () => {
    assert.equal(
      canonicalJson({ b: 1, a: [true, null, 'x'], c: undefined, d: { z: 1, y: 2 } }),
      '{"a":[true,null,"x"],"b":1,"d":{"y":2,"z":1}}',
    );
    assert.throws(() => canonicalJson({ x: Number.NaN }), /cannot hash/);
  });

  test('shuffled keys give the same canonical text and the same digest', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.integer({ min: 1, max: 1000 }), async (value, seed) => {
        const a = canonicalJson(value);
        const b = canonicalJson(shuffleKeys(value, seed));
        assert.equal(a, b);
        assert.equal(await hashBytes(a), await hashBytes(b));
      }),
      { numRuns: 200 },
    );
  });

  test('gives the text the first implementation gave (so no cache is re-keyed)', () => {
    // The map/filter/join version every key in existing caches was made with, kept as the oracle.
    const first = (value: unknown): string => {
      if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
      if (Array.isArray(value)) return `[${value.map((v) => first(v === undefined ? null : v)).join(',')}]`;
      const keys = Object.keys(value)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${first((value as Record<string, unknown>)[k])}`).join(',')}}`;
    };
    const withUndefined = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue({ maxDepth: 1 }),
        fc.constant(undefined),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 4 }), tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(fc.dictionary(fc.string(), withUndefined), (value) => {
        assert.equal(canonicalJson(value), first(value));
      }),
      { numRuns: 500 },
    );
  });

  test('the digest is XXH128 as hex (pinned, so a library change cannot silently re-key caches)', async () => {
    assert.equal(await hashBytes(''), '99aa06d3014798d86001c324468d497f');
    assert.equal(await hashBytes('gpt2o'), await hashBytes(new TextEncoder().encode('gpt2o')));
  });
});

describe("a tree manifest's JSON", () => {
  test('written out directly, it is canonicalJson byte for byte', () => {
    const name = fc.string({ minLength: 1, maxLength: 12 });
    const digest = fc.stringMatching(/^[0-9a-f]{32}$/);
    const file = fc.record(
      { path: name, digest, size: fc.nat(), exec: fc.constant(true as const) },
      { requiredKeys: ['path', 'digest', 'size'] },
    );
    const manifest = fc.record(
      {
        format: fc.constant(1 as const),
        files: fc.array(file, { maxLength: 6 }),
        dirs: fc.array(name, { maxLength: 3 }),
        links: fc.array(fc.record({ path: name, target: name }), { maxLength: 3 }),
      },
      { requiredKeys: ['format', 'files', 'dirs'] },
    );
    fc.assert(fc.property(manifest, (m) => manifestJson(m) === canonicalJson(m)));
    assert.equal(
      manifestJson({ format: 1, files: [{ path: 'a "q"\n', digest: 'd', size: 0, exec: true }], dirs: [''] }),
      '{"dirs":[""],"files":[{"digest":"d","exec":true,"path":"a \\"q\\"\\n","size":0}],"format":1}',
    );
  });
});
