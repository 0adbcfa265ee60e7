// The first `maxTokens` tokens of the val split as one array (evaluate's and sample's view of it).
// Reads shard by shard and stops early, so a large split is not loaded beyond what is used.
import { readNpyUint16 } from '../tokens/npy-read.ts';
import { shardFiles } from './loader.ts';

/** The first `maxTokens` tokens of the val split in a shards folder. */
export function readValTokens(shards: string, maxTokens = Number.POSITIVE_INFINITY): Uint16Array {
  const files = shardFiles(shards, 'val');
  const parts: Uint16Array[] = [];
  let total = 0;
  for (const file of files) {
    if (total >= maxTokens) break;
    const shard = readNpyUint16(file);
    const take = Math.min(shard.length, maxTokens - total);
    parts.push(shard.subarray(0, take));
    total += take;
  }
  const out = new Uint16Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
