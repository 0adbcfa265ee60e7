// `shard`: codec codes → the token stream the GPT trains on, in a layout (`tokens.layout`: gpt2o,
// the original's, or offset), cut into .npy shards of `shard_tokens` tokens per split
// (train_000000.npy, val_000000.npy, …) plus meta.json (vocabulary, special ids, and per split
// tokens, frames and audio seconds). Chapters go in manifest order; val chapters go to val shards.
import * as v from 'valibot';
import { defineStage, StageError } from '../src/stage-api/index.ts';

export default defineStage({
  name: 'shard',
  version: 1,
  description: 'flatten codec codes into a token layout and write uint16 .npy shards with meta.json',
  params: v.strictObject({
    layout: v.optional(v.picklist(['gpt2o', 'offset']), 'gpt2o'),
    shard_tokens: v.optional(v.pipe(v.number(), v.integer(), v.minValue(8)), 10_000_000),
  }),
  inputs: ['codes'],
  async run(ctx) {
    const { makeLayout } = await import('./tokens/layout-registry.ts');
    const { readChapterCodes, readCodesManifest } = await import('./tokens/codes-files.ts');
    const { ShardWriter } = await import('./tokens/shard-writer.ts');
    const { writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const input = ctx.input('codes');
    const manifest = readCodesManifest(input);
    const layout = makeLayout(ctx.params.layout, manifest.codebook_size);
    const endOfChunk = layout.spec.special.end_of_chunk;
    const totals: Record<
      'train' | 'val',
      { tokens: number; frames: number; audio_seconds: number; shards: number }
    > = {
      train: { tokens: 0, frames: 0, audio_seconds: 0, shards: 0 },
      val: { tokens: 0, frames: 0, audio_seconds: 0, shards: 0 },
    };
    for (const split of ['train', 'val'] as const) {
      const writer = new ShardWriter(ctx.outDir, split, ctx.params.shard_tokens);
      for (const chapter of manifest.chapters.filter((c) => c.split === split)) {
        const tokens = layout.flatten(readChapterCodes(input, chapter));
        writer.append(tokens);
        // The offset layout marks where a chapter ends; gpt2o adds nothing, as the original.
        if (endOfChunk !== undefined) writer.append(Uint16Array.of(endOfChunk));
        totals[split].frames += chapter.frames;
        totals[split].audio_seconds += chapter.seconds;
        ctx.progress({ done: totals.train.frames + totals.val.frames, unit: 'frames', message: chapter.dir });
      }
      totals[split].tokens = writer.finish();
      totals[split].shards = writer.shards;
    }
    if (totals.train.tokens === 0) {
      throw new StageError('no train tokens: every chapter is in val', { hint: 'check data.val_pattern' });
    }
    const seconds = totals.train.audio_seconds + totals.val.audio_seconds;
    const tokens = totals.train.tokens + totals.val.tokens;
    const meta = {
      layout: layout.name,
      vocab_size: layout.spec.vocabSize,
      special: layout.spec.special,
      codebook_size: manifest.codebook_size,
      tokens_per_frame: layout.spec.tokensPerFrame,
      sample_rate: manifest.sample_rate,
      hop_length: manifest.hop_length,
      train: totals.train,
      val: totals.val,
      total: { tokens, frames: totals.train.frames + totals.val.frames, audio_seconds: seconds },
      tokens_per_audio_second: seconds > 0 ? tokens / seconds : 0,
    };
    await writeFile(join(ctx.outDir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    ctx.metric('train_tokens', totals.train.tokens);
    ctx.metric('val_tokens', totals.val.tokens);
    ctx.metric('vocab_size', layout.spec.vocabSize);
    ctx.log(
      `${tokens} tokens (${totals.train.shards} train, ${totals.val.shards} val shards), layout ${layout.name}`,
    );
  },
});
