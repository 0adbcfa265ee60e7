// `shard` through the engine: codes in tokenize's contract → .npy shards in a layout, with meta.json;
// the shards decode back to the codes; a layout change reruns shard only.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { makeLayout } from '../../stages/tokens/layouts.ts';
import { readNpyUint16 } from '../../stages/tokens/npy-read.ts';
import { fakeCodes } from '../fixtures/stages/fake-codes.ts';
import { fixtureStages } from '../fixtures/stages/index.ts';
import { makeWorkspace, runJson } from '../helpers/workspace.ts';

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
