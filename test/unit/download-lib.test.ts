// The download stage's pure pieces and its zip extractor, without the engine: source parsing, Hub
// URLs, throttled progress (injected clock), and that refused archives write nothing at all.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { StageProgress } from '../../src/stage-api/index.ts';
import { datasetApiUrl, resolveUrl } from '../../stages/lib/hf.ts';
import { compileInclude } from '../../stages/lib/include.ts';
import { byteProgress } from '../../stages/lib/progress.ts';
import { parseSource } from '../../stages/lib/sources.ts';
import { extractZip } from '../../stages/lib/zip.ts';
import { zipOf, zipWithRawName } from '../helpers/bytes.ts';

describe('parseSource', () => {
  test('each form, and errors that say what a valid source looks like', () => {
    assert.deepEqual(parseSource('https://x.org/a b.zip'), { kind: 'http', url: 'https://x.org/a%20b.zip' });
    assert.deepEqual(parseSource('file:///data/book.zip'), { kind: 'local', path: '/data/book.zip' });
    assert.deepEqual(parseSource('books/a'), { kind: 'local', path: 'books/a' });
    assert.deepEqual(parseSource('hf:me/book'), { kind: 'hf', owner: 'me', name: 'book', revision: 'main' });
    assert.deepEqual(parseSource('hf:me/book@refs/pr/1'), {
      kind: 'hf',
      owner: 'me',
      name: 'book',
      revision: 'refs/pr/1',
    });
    const error = (text: string) => (parseSource(text) as { error?: string }).error ?? '';
    assert.match(error('hf:me'), /needs a dataset as OWNER\/NAME/);
    assert.match(error('hf:me/book@'), /empty or blank revision/);
    assert.match(error('hf:me/.book'), /not a valid Hub name/);
    assert.match(error('s3://bucket/key'), /unsupported scheme "s3:\/\/"/);
    assert.match(error(''), /source is empty/);
  });
});

test('Hub URLs: the API lists at a revision, resolve URLs encode each path segment', () => {
  const ds = { owner: 'me', name: 'book', revision: 'refs/pr/1' };
  assert.equal(datasetApiUrl('https://hub', { ...ds, revision: 'main' }), 'https://hub/api/datasets/me/book');
  assert.equal(datasetApiUrl('https://hub', ds), 'https://hub/api/datasets/me/book/revision/refs%2Fpr%2F1');
  assert.equal(
    resolveUrl('https://hub', ds, 'data/ch 1#.mp3'),
    'https://hub/datasets/me/book/resolve/refs%2Fpr%2F1/data/ch%201%23.mp3',
  );
});

test('byte progress: at most one update per 100 ms (and the last), with rate and ETA', () => {
  let now = 0;
  const seen: StageProgress[] = [];
  const report = byteProgress(
    (p) => seen.push(p),
    'a.mp3',
    () => now,
  );
  for (let i = 1; i <= 100; i++) {
    now = i * 10; // a chunk every 10 ms for 1 s
    report(i * 10_000, 1_000_000);
  }
  assert.equal(seen.length, 11);
  assert.deepEqual(seen.at(-1), {
    done: 1_000_000,
    total: 1_000_000,
    unit: 'bytes',
    message: 'a.mp3 977 KiB/s',
  });
  assert.equal(seen[4]!.message, 'a.mp3 977 KiB/s ETA 0:01');
});

describe('extractZip', () => {
  async function extract(zip: Buffer, maxBytes = 1e9) {
    const dir = mkdtempSync(join(tmpdir(), 'gpt2o-zip-'));
    writeFileSync(join(dir, 'in.zip'), zip);
    const out = join(dir, 'out', 'audio');
    try {
      const files = await extractZip(join(dir, 'in.zip'), out, {
        include: compileInclude(['**/*.mp3']),
        maxBytes,
        name: 'in.zip',
      });
      return { files, written: [] as string[] };
    } catch (error) {
      const written = readdirSync(dir, { recursive: true }).map(String);
      return { error: error as Error, written: written.filter((f) => f !== 'in.zip') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  function withRawName(raw: string): Promise<Buffer> {
    const placeholder = 'x'.repeat(raw.length - 4) + '.mp3';
    return zipWithRawName(
      { 'first.mp3': Buffer.from('ok'), [placeholder]: Buffer.from('evil') },
      placeholder,
      raw,
    );
  }

  for (const [raw, why] of [
    ['../evil.mp3', '".." segment'],
    ['/etc/evil.mp3', 'absolute path'],
    ['a\\..\\evil.mp3', 'backslash in the name'],
    ['C:/evil.mp3', 'absolute path'],
  ]) {
    test(`refuses "${raw}" (${why}) and writes nothing, not even the safe entries`, async () => {
      const r = await extract(await withRawName(raw!));
      assert.equal(
        r.error?.message,
        `in.zip has an entry that would escape the output folder: "${raw}" (${why})`,
      );
      assert.deepEqual(r.written, []);
    });
  }

  test('refuses a declared size over the limit before writing anything', async () => {
    const r = await extract(await zipOf({ 'a.mp3': Buffer.alloc(3000), 'b.mp3': Buffer.alloc(3000) }), 5000);
    assert.match(
      r.error?.message ?? '',
      /in\.zip \(2 entries, uncompressed\) is 5\.9 KiB, more than the 4\.9 KiB/,
    );
    assert.deepEqual(r.written, []);
  });

  test('a flipped byte in a stored entry fails its CRC-32', async () => {
    const data = Buffer.from('a chapter of audio, stored without compression');
    const zip = await zipOf({ 'a.mp3': data }, { compress: false });
    zip[zip.indexOf(data) + 3]! ^= 0xff;
    const r = await extract(zip);
    assert.match(r.error?.message ?? '', /in\.zip: a\.mp3 is not a readable zip archive: CRC-32 mismatch/);
  });

  test('extracts matching entries with their paths, sizes and hashes', async () => {
    const r = await extract(await zipOf({ 'd/a.MP3': Buffer.from('aa'), 'b.txt': Buffer.from('b') }));
    assert.deepEqual(r.files, [
      {
        path: 'd/a.MP3',
        bytes: 2,
        sha256: '961b6dd3ede3cb8ecbaacbd68de040cd78eb2ed5889130cceb4c49268ea4d506',
      },
    ]);
  });
});
