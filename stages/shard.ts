// `shard`: codec codes → the token stream the GPT trains on, in a layout (`tokens.layout`: gpt2o,
// the original's, or offset), cut into .npy shards of `shard_tokens` tokens per split
// (train_000000.npy, val_000000.npy, …) plus meta.json (vocabulary, special ids, and per split
// tokens, frames and audio seconds). Chapters go in manifest order; val chapters go to val shards.
// The work is shard-run.ts.
import * as v from 'valibot';
import { defineStage } from '../src/stage-api/index.ts';
import { LAYOUT_NAMES } from './tokens/layout-names.ts';

const params = v.strictObject({
  layout: v.optional(v.picklist(LAYOUT_NAMES), 'gpt2o'),
  shard_tokens: v.optional(v.pipe(v.number(), v.integer(), v.minValue(8)), 10_000_000),
});

/** The validated `with:` of a shard stage. */
export type ShardParams = v.InferOutput<typeof params>;

export default defineStage({
  name: 'shard',
  version: 1,
  description: 'flatten codec codes into a token layout and write uint16 .npy shards with meta.json',
  params,
  inputs: ['codes'],
  async run(ctx) {
    const { runShard } = await import('./shard-run.ts');
    await runShard(ctx);
  },
});
