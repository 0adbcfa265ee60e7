// Accumulates a split's tokens and writes them as <split>_NNNNNN.npy shards of a fixed size (the
// last one shorter), holding at most one shard in memory.
import { join } from 'node:path';
import { writeNpy } from './npy.ts';

export class ShardWriter {
  private readonly buffer: Uint16Array;
  private filled = 0;
  private total = 0;
  shards = 0;

  constructor(
    private readonly dir: string,
    private readonly split: string,
    shardTokens: number,
  ) {
    this.buffer = new Uint16Array(shardTokens);
  }

  append(tokens: Uint16Array): void {
    let offset = 0;
    while (offset < tokens.length) {
      const n = Math.min(tokens.length - offset, this.buffer.length - this.filled);
      this.buffer.set(tokens.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === this.buffer.length) this.flush();
    }
  }

  /** Writes the last partial shard; returns the split's token count. */
  finish(): number {
    if (this.filled > 0) this.flush();
    return this.total;
  }

  private flush(): void {
    const name = `${this.split}_${String(this.shards).padStart(6, '0')}.npy`;
    writeNpy(join(this.dir, name), this.buffer.subarray(0, this.filled));
    this.total += this.filled;
    this.shards++;
    this.filled = 0;
  }
}
