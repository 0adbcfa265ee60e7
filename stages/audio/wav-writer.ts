// Streams mono WAV to disk: a header with placeholder sizes, the samples as they come, then the
// sizes patched in place. Memory stays bounded however long the audio is.
import { closeSync, openSync, writeSync } from 'node:fs';
import { Pcm16Converter, toPcm16Sample } from './simd-kernel.ts';

export type SampleFormat = 'pcm16' | 'float32';

export class WavWriter {
  private readonly fd: number;
  private dataBytes = 0;
  private readonly bytesPerSample: number;
  private readonly converter: Pcm16Converter | null;

  constructor(
    readonly path: string,
    readonly sampleRate: number,
    readonly format: SampleFormat,
  ) {
    this.bytesPerSample = format === 'pcm16' ? 2 : 4;
    this.converter = format === 'pcm16' ? Pcm16Converter.create() : null;
    this.fd = openSync(path, 'w');
    writeSync(this.fd, this.header(0));
  }

  /** Appends samples in [-1, 1]; PCM16 is scaled by 32767, rounded (ties to even) and clipped. */
  write(samples: Float32Array): void {
    if (samples.length === 0) return;
    let bytes: Uint8Array;
    if (this.format === 'float32') {
      bytes = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
    } else {
      const pcm = this.converter ? this.converter.toPcm16(samples) : Int16Array.from(samples, toPcm16Sample);
      bytes = new Uint8Array(pcm.buffer);
    }
    writeSync(this.fd, bytes);
    this.dataBytes += bytes.length;
  }

  get samples(): number {
    return this.dataBytes / this.bytesPerSample;
  }

  close(): void {
    writeSync(this.fd, this.header(this.dataBytes), 0, 44, 0);
    closeSync(this.fd);
  }

  /** RIFF/WAVE header: PCM (format 1) for 16-bit, IEEE float (format 3) for 32-bit. */
  private header(dataBytes: number): Buffer {
    const h = Buffer.alloc(44);
    h.write('RIFF', 0, 'ascii');
    h.writeUInt32LE(36 + dataBytes, 4);
    h.write('WAVE', 8, 'ascii');
    h.write('fmt ', 12, 'ascii');
    h.writeUInt32LE(16, 16);
    h.writeUInt16LE(this.format === 'pcm16' ? 1 : 3, 20);
    h.writeUInt16LE(1, 22); // mono
    h.writeUInt32LE(this.sampleRate, 24);
    h.writeUInt32LE(this.sampleRate * this.bytesPerSample, 28);
    h.writeUInt16LE(this.bytesPerSample, 32);
    h.writeUInt16LE(this.bytesPerSample * 8, 34);
    h.write('data', 36, 'ascii');
    h.writeUInt32LE(dataBytes, 40);
    return h;
  }
}
