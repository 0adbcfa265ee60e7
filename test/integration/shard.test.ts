// `shard` through the engine: codes in tokenize's contract → .npy shards in a layout, with meta.json;
// the shards decode back to the codes; a layout change reruns shard only.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { makeLayout } from '../../stages/tokens/layout-registry.ts';
import { npyHeader } from '../../stages/tokens/npy.ts';
import { readNpyUint16 } from '../../stages/tokens/npy-read.ts';
import { fakeCodes } from '../fixtures/stages/fake-codes.ts';
import { fixtureStages } from '../fixtures/stages/index.ts';
import { cli, makeWorkspace, runJson } from '../helpers/workspace.ts';

const FRAMES = [5, 30, 17, 40];
const PIPELINE = `params:
  tokens: {layout: gpt2o, shard_tokens: 100}
stages:
  tokenize:
    uses: fake-codes
    with:
      seed: 3
      frames: [${FRAMES.join(', ')}]
  shard:
    uses: shard
    needs: {codes: tokenize}
    with:
      layout: \${tokens.layout}
      shard_tokens: \${tokens.shard_tokens}
`;

function concatShards(dir: string, split: string): { names: string[]; tokens: number[] } {
  const names = readdirSync(dir)
    .filter((n) => n.startsWith(`${split}_`))
    .sort();
  return { names, tokens: names.flatMap((n) => Array.from(readNpyUint16(`${dir}/${n}`))) };
}

describe('shard', () => {
  test('gpt2o: shards hold the original token stream, cut every shard_tokens, val apart', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      const r = await runJson(ws.dir, [], fixtureStages);
      assert.equal(r.code, 0, r.stderr);
      const dir = ws.path('runs/pipeline/shard');
      const layout = makeLayout('gpt2o', 4096);
      const train = concatShards(dir, 'train');
      // Train: chapters 2-4 (87 frames, 8 tokens each) = 696 tokens in 7 shards of 100.
      assert.deepEqual(
        train.names,
        [0, 1, 2, 3, 4, 5, 6].map((i) => `train_00000${i}.npy`),
      );
      const expected = [1, 2, 3].flatMap((i) => Array.from(layout.flatten(fakeCodes(3, i, FRAMES[i]!))));
      assert.deepEqual(train.tokens, expected);
      assert.equal(readNpyUint16(`${dir}/train_000006.npy`).length, 96);
      const val = concatShards(dir, 'val');
      assert.deepEqual(val.tokens, Array.from(layout.flatten(fakeCodes(3, 0, 5))));
      const meta = JSON.parse(ws.read('runs/pipeline/shard/meta.json'));
      assert.equal(meta.vocab_size, 4098);
      assert.deepEqual(meta.special, { separator: 4097 });
      assert.deepEqual([meta.train.tokens, meta.train.frames, meta.train.shards], [696, 87, 7]);
      assert.deepEqual([meta.val.tokens, meta.val.frames], [40, 5]);
      assert.equal(meta.tokens_per_audio_second.toFixed(4), (736 / ((92 * 2048) / 24000)).toFixed(4));
    } finally {
      ws.remove();
    }
  });

  test('offset: each chapter ends with end_of_chunk, the stream decodes back, and only shard reruns', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      await runJson(ws.dir, [], fixtureStages);
      const r = await runJson(ws.dir, ['--set', 'tokens.layout=offset'], fixtureStages);
      assert.deepEqual(r.status, { tokenize: 'cached', shard: 'ran' });
      const layout = makeLayout('offset', 4096);
      const { tokens } = concatShards(ws.path('runs/pipeline/shard'), 'train');
      assert.equal(tokens.filter((t) => t === 1).length, 3, 'one end_of_chunk per train chapter');
      const back = layout.unflatten(tokens);
      assert.equal(back.dropped, 0);
      const expected = [1, 2, 3].map((i) => fakeCodes(3, i, FRAMES[i]!));
      assert.deepEqual(
        Array.from(back.levels[0]),
        expected.flatMap((c) => Array.from(c.levels[0])),
      );
      assert.deepEqual(
        Array.from(back.levels[2]),
        expected.flatMap((c) => Array.from(c.levels[2])),
      );
      const meta = JSON.parse(ws.read('runs/pipeline/shard/meta.json'));
      assert.deepEqual(
        [meta.layout, meta.vocab_size, meta.special],
        ['offset', 2 + 7 * 4096, { frame_start: 0, end_of_chunk: 1 }],
      );
      assert.equal(meta.train.tokens, 87 * 8 + 3);
    } finally {
      ws.remove();
    }
  });
});

// Codes a cmd stage hands shard are the user's data: every way they can be wrong is a stage error
// naming the file, never a crash.
describe('shard on bad codes', () => {
  const npy = (length: number) => Buffer.concat([npyHeader(length), Buffer.alloc(2 * length)]) as Uint8Array;
  /** level0..2 of one chapter of `frames` frames, each replaceable. */
  const chapter = (frames: number, replace: Partial<Record<0 | 1 | 2, Uint8Array | 'folder'>> = {}) =>
    Object.fromEntries(([0, 1, 2] as const).map((k) => [k, replace[k] ?? npy(frames << k)]));
  const CASES: {
    name: string;
    dir?: string;
    levels: Record<number, Uint8Array | 'folder'>;
    error: RegExp;
  }[] = [
    {
      name: 'a chapter folder outside the input',
      dir: '../../../../../etc',
      levels: chapter(2),
      error:
        /not a valid codes manifest: chapters\[0\]\.dir is "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc", which is not a folder inside it \("\.\." segment\)/,
    },
    {
      name: 'a version-2 .npy cut inside its header',
      levels: chapter(2, { 0: Uint8Array.from([0x93, ...Buffer.from('NUMPY'), 2, 0, 0, 0, 0]) }),
      error: /level0\.npy is not a 1-D uint16 \.npy file: the header is cut short/,
    },
    {
      name: 'a header longer than the file',
      levels: chapter(2, { 1: Uint8Array.from([0x93, ...Buffer.from('NUMPY'), 1, 0, 0xff, 0xff, 0x7b]) }),
      error:
        /level1\.npy is not a 1-D uint16 \.npy file: its header says 65535 bytes, more than the file holds/,
    },
    {
      name: 'levels not in the 1:2:4 ratio',
      levels: chapter(2, { 2: npy(9) }),
      error: /level0\/1\/2\.npy must hold 1:2:4 codes per frame, they hold 2, 4, 9/,
    },
    {
      name: 'a level that is a folder',
      levels: chapter(2, { 0: 'folder' }),
      error: /level0\.npy is not a 1-D uint16 \.npy file: cannot read it \(EISDIR\)/,
    },
  ];
  for (const c of CASES) {
    test(c.name, async () => {
      const dir = c.dir ?? 'codes/ch01';
      const ws = makeWorkspace({
        'pipeline.yaml': `stages:
  codes:
    cmd: cp -R data/. .
    deps: [data]
    outs: [codes, manifest.json]
  shard:
    uses: shard
    needs: {codes: codes}
`,
        'data/manifest.json': JSON.stringify({
          codebook_size: 4096,
          sample_rate: 24000,
          hop_length: 512,
          chapters: [{ dir, source: 'x.wav', split: 'train', frames: 2, seconds: 1 }],
        }),
      });
      try {
        mkdirSync(ws.path('data/codes/ch01'), { recursive: true });
        for (const [k, bytes] of Object.entries(c.levels)) {
          const path = ws.path(`data/codes/ch01/level${k}.npy`);
          if (bytes === 'folder') {
            mkdirSync(path);
            writeFileSync(`${path}/x`, 'x');
          } else writeFileSync(path, bytes);
        }
        const r = await cli(ws.dir, ['run']);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /error E_STAGE_FAILED \(stage "shard"\)/);
        assert.match(r.stderr, c.error);
        assert.doesNotMatch(r.stderr, /looks like a bug|internal error/);
      } finally {
        ws.remove();
      }
    });
  }
});
