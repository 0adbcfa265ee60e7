// The body of the `shard` stage, loaded only when it runs: read the codes manifest, flatten each
// chapter into the layout's tokens, write the shards of each split and the shards' meta.json.
import { type StageContext, StageError } from '../src/stage-api/index.ts';
import { readCodesManifest } from './contracts/codes-manifest.ts';
import { type SplitTotals, writeShardsMeta } from './contracts/shards-meta.ts';
import type { ShardParams } from './shard.ts';
import { readChapterCodes } from './tokens/codes-files.ts';
import { makeLayout } from './tokens/layout-registry.ts';
import { ShardWriter } from './tokens/shard-writer.ts';

export async function runShard(ctx: StageContext<ShardParams>): Promise<void> {
  const input = ctx.input('codes');
  const manifest = readCodesManifest(input);
  const layout = makeLayout(ctx.params.layout, manifest.codebook_size);
  const endOfChunk = layout.spec.special.end_of_chunk;
  const totals: Record<'train' | 'val', SplitTotals> = {
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
  await writeShardsMeta(ctx.outDir, {
    layout: ctx.params.layout,
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
  });
  ctx.metric('train_tokens', totals.train.tokens);
  ctx.metric('val_tokens', totals.val.tokens);
  ctx.metric('vocab_size', layout.spec.vocabSize);
  ctx.log(
    `${tokens} tokens (${totals.train.shards} train, ${totals.val.shards} val shards), layout ${layout.name}`,
  );
}
