// Reads a mono WAV straight into a caller's float buffer (no intermediate arrays): the read path of
// `tokenize`, where the encoder's batch buffer is filled window by window. 16-bit PCM and float32
// take a typed-array fast path; other encodings go through the general reader.
import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import type { Int16ToFloat } from './simd-kernel.ts';
import { readWavFormat, type WavFormat, WavFormatError } from './wav-reader.ts';

/** Samples read per system call (and the size of a SIMD converter's raw region). */
export const CHUNK_FRAMES = 1 << 16;

export class MonoWavStream {
  readonly format: WavFormat;
  private readonly fd: number;
  private position: number;
  private remaining: number; // bytes of sample data left
  private readonly raw: Buffer;
  private readonly pcm16: Int16Array | undefined;
  private readonly float32: Float32Array | undefined;

  /**
   * With `simd` (its raw region CHUNK_FRAMES samples long), reads into `simd.out` convert 16-bit
   * samples in the SIMD kernel, reading straight into its memory.
   */
  constructor(
    readonly path: string,
    private readonly simd?: Int16ToFloat | null,
  ) {
    this.fd = openSync(path, 'r');
    try {
      this.format = readWavFormat(this.fd);
    } catch (error) {
      closeSync(this.fd);
      throw error;
    }
    const f = this.format;
    if (f.channels !== 1) {
      closeSync(this.fd);
      throw new WavFormatError(
        `${path} has ${f.channels} channels; tokenize reads mono WAVs (resample writes them)`,
      );
    }
    const fast =
      endianness() === 'LE' && ((!f.float && f.bitsPerSample === 16) || (f.float && f.bitsPerSample === 32));
    if (!fast) {
      closeSync(this.fd);
      throw new WavFormatError(
        `${path} is ${f.bitsPerSample}-bit ${f.float ? 'float' : 'PCM'}; tokenize reads 16-bit PCM or float32 WAVs`,
      );
    }
    const width = f.bitsPerSample / 8;
    const storage = new ArrayBuffer(CHUNK_FRAMES * width);
    this.raw = Buffer.from(storage);
    if (f.float) this.float32 = new Float32Array(storage);
    else this.pcm16 = new Int16Array(storage);
    this.position = f.dataOffset;
    this.remaining = f.dataBytes - (f.dataBytes % width);
  }

  /** Fills target[offset, offset + count) with samples in [-1, 1]; returns how many it read (0 at the end). */
  read(target: Float32Array, offset: number, count: number): number {
    const width = this.format.bitsPerSample / 8;
    const simd = this.pcm16 && this.simd && target === this.simd.out ? this.simd : undefined;
    let done = 0;
    while (done < count && this.remaining > 0) {
      const want = Math.min(count - done, CHUNK_FRAMES, this.remaining / width);
      const got = readSync(this.fd, simd ? simd.rawBytes : this.raw, 0, want * width, this.position);
      const frames = Math.floor(got / width);
      if (frames === 0) {
        this.remaining = 0; // shorter than its header says
        break;
      }
      const at = offset + done;
      if (simd) simd.convert(frames, at);
      else if (this.pcm16) {
        const source = this.pcm16;
        for (let i = 0; i < frames; i++) target[at + i] = source[i]! * (1 / 32768);
      } else target.set(this.float32!.subarray(0, frames), at);
      done += frames;
      this.position += frames * width;
      this.remaining -= frames * width;
    }
    return done;
  }

  close(): void {
    closeSync(this.fd);
  }
}
