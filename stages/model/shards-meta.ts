// The part of the shard stage's meta.json that the model stages read.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ShardsMeta {
  layout: 'gpt2o' | 'offset';
  vocab_size: number;
  codebook_size: number;
  tokens_per_frame: number;
  sample_rate: number;
  train: { tokens: number };
  val: { tokens: number };
}

export function readShardsMeta(dir: string): ShardsMeta {
  return JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as ShardsMeta;
}
