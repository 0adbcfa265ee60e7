// build-nanogpt's DataLoaderLite over our .npy shards: a sequential stream through a split's
// shards, B×T tokens per batch (inputs, and targets shifted by one), holding one shard in memory.
// A batch may span a shard boundary, and the stream wraps at the end of the split. Its position
// is two integers, saved in checkpoints so a resumed run sees exactly the batches it would have.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { StageError } from '../../src/stage-api/index.ts';
import { readNpyUint16 } from '../tokens/npy-read.ts';

export interface LoaderPosition {
  shard: number;
  offset: number;
}

export interface Batch {
  ids: Int32Array;
  targets: Int32Array;
}

/** The split's shard files in order (train_000000.npy, …). */
export function shardFiles(dir: string, split: 'train' | 'val'): string[] {
  return readdirSync(dir)
    .filter((name) => new RegExp(`^${split}_\\d{6}\\.npy$`).test(name))
    .sort()
    .map((name) => join(dir, name));
}

export class TokenLoader {
  private current: Uint16Array;
  private position: LoaderPosition = { shard: 0, offset: 0 };

  constructor(
    private readonly files: string[],
    readonly B: number,
    readonly T: number,
    totalTokens: number,
    split: string,
  ) {
    if (files.length === 0) throw new StageError(`no ${split} shards to read`);
    if (totalTokens < B * T + 1)
      throw new StageError(
        `the ${split} split has ${totalTokens} tokens, fewer than one batch needs (micro_batch × context_length + 1 = ${B * T + 1})`,
        { hint: 'lower train.micro_batch or train.context_length, or add data' },
      );
    this.current = readNpyUint16(files[0]!);
  }

  get state(): LoaderPosition {
    return { ...this.position };
  }

  seek(position: LoaderPosition): void {
    if (position.shard !== this.position.shard) this.current = readNpyUint16(this.files[position.shard]!);
    this.position = { ...position };
  }

  reset(): void {
    this.seek({ shard: 0, offset: 0 });
  }

  next(): Batch {
    const need = this.B * this.T + 1;
    const buffer = new Int32Array(need);
    // Read B·T+1 tokens from the current position, crossing shard boundaries and wrapping.
    let shard = this.position.shard;
    let offset = this.position.offset;
    let data = this.current;
    for (let filled = 0; filled < need; ) {
      if (offset >= data.length) {
        shard = (shard + 1) % this.files.length;
        offset = 0;
        data = readNpyUint16(this.files[shard]!);
        continue;
      }
      const n = Math.min(need - filled, data.length - offset);
      buffer.set(data.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
    }
    // Advance by B·T (the last target is the next batch's first input), as the original.
    this.advance(this.B * this.T);
    return { ids: buffer.subarray(0, need - 1), targets: buffer.subarray(1) };
  }

  private advance(count: number): void {
    let { shard, offset } = this.position;
    offset += count;
    for (;;) {
      const length =
        shard === this.position.shard ? this.current.length : readNpyUint16(this.files[shard]!).length;
      if (offset < length) break;
      offset -= length;
      shard = (shard + 1) % this.files.length;
    }
    this.seek({ shard, offset });
  }
}
