// shard → train, evaluate, sample: `meta.json` beside the .npy shards (train_000000.npy, …): the
// token layout and its vocabulary, the codec facts, and per split the tokens, frames, seconds and
// shard count. The model stages read the layout, the vocabulary and the token counts.
import * as v from 'valibot';
import { LAYOUT_NAMES } from '../tokens/layout-names.ts';
import { countInt, type JsonContract, positiveInt, readContract, writeContract } from './json-contract.ts';

/** Per split (and in total): what went into the shards. */
export interface SplitTotals {
  tokens: number;
  frames: number;
  audio_seconds: number;
  shards: number;
}

/** What shard writes. */
export interface ShardsMetaFile {
  layout: 'gpt2o' | 'offset';
  vocab_size: number;
  /** The layout's special token ids (frame marker, end of chunk), by name. */
  special: Record<string, number>;
  codebook_size: number;
  tokens_per_frame: number;
  sample_rate: number;
  hop_length: number;
  train: SplitTotals;
  val: SplitTotals;
  total: Omit<SplitTotals, 'shards'>;
  tokens_per_audio_second: number;
}

const contract = {
  file: 'meta.json',
  what: 'shards meta',
  producer: 'shard',
  schema: v.object({
    layout: v.picklist(LAYOUT_NAMES),
    vocab_size: positiveInt,
    codebook_size: positiveInt,
    tokens_per_frame: positiveInt,
    sample_rate: v.number(),
    train: v.object({ tokens: countInt }),
    val: v.object({ tokens: countInt }),
  }),
} satisfies JsonContract<v.GenericSchema>;

/** What the model stages read of it. */
export type ShardsMeta = v.InferOutput<typeof contract.schema>;

export function writeShardsMeta(outDir: string, meta: ShardsMetaFile): Promise<void> {
  return writeContract(outDir, contract, meta);
}

export function readShardsMeta(dir: string): ShardsMeta {
  return readContract(dir, contract);
}
