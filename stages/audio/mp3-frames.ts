// Walks MPEG audio frame headers (without decoding) to find where the audio really ends: the
// WebAssembly decoder stops silently at a truncated last frame, so truncation is detected here,
// with the byte offset of the cut frame. Handles ID3v2 tags of any size (pictures included).

const BITRATES: Record<string, number[]> = {
  // kbit/s by index, for MPEG-1 and MPEG-2/2.5, layers III, II, I
  '1-3': [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  '1-2': [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  '1-1': [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  '2-3': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  '2-2': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  '2-1': [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
};
const SAMPLE_RATES: Record<number, number[]> = {
  3: [44100, 48000, 32000],
  2: [22050, 24000, 16000],
  0: [11025, 12000, 8000],
};

export interface FrameHeader {
  length: number;
  sampleRate: number;
  samples: number;
  channels: 1 | 2;
}

/** Parses a frame header at `p`, or undefined when there is none. */
export function parseFrameHeader(b: Uint8Array, p: number): FrameHeader | undefined {
  if (p + 4 > b.length || b[p] !== 0xff || (b[p + 1]! & 0xe0) !== 0xe0) return undefined;
  const version = (b[p + 1]! >> 3) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
  const layer = 4 - ((b[p + 1]! >> 1) & 3); // 1, 2, 3
  const bitrateIndex = b[p + 2]! >> 4;
  const rateIndex = (b[p + 2]! >> 2) & 3;
  const padding = (b[p + 2]! >> 1) & 1;
  if (version === 1 || layer === 4 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3)
    return undefined;
  const kbps = BITRATES[`${version === 3 ? 1 : 2}-${layer}`]![bitrateIndex]!;
  const sampleRate = SAMPLE_RATES[version]![rateIndex]!;
  const channels = b[p + 3]! >> 6 === 3 ? 1 : 2; // channel mode 3: single channel
  if (layer === 1)
    return {
      length: (Math.floor((12000 * kbps) / sampleRate) + padding) * 4,
      sampleRate,
      samples: 384,
      channels,
    };
  const samples = layer === 3 && version !== 3 ? 576 : 1152;
  return {
    length: Math.floor(((samples / 8) * 1000 * kbps) / sampleRate) + padding,
    sampleRate,
    samples,
    channels,
  };
}

/** Size of a leading ID3v2 tag (header + body + optional footer), 0 when there is none. */
export function id3v2Size(b: Uint8Array): number {
  if (b.length < 10 || b[0] !== 0x49 || b[1] !== 0x44 || b[2] !== 0x33) return 0; // "ID3"
  const size = ((b[6]! & 0x7f) << 21) | ((b[7]! & 0x7f) << 14) | ((b[8]! & 0x7f) << 7) | (b[9]! & 0x7f);
  return 10 + size + (b[5]! & 0x10 ? 10 : 0);
}

/**
 * Tracks frames across streamed chunks: call `push(chunk)` for each chunk, `finish()` at the end.
 * `truncatedAt` is the byte offset of a last frame that the file cuts short.
 */
export class FrameScanner {
  private carry: Uint8Array = new Uint8Array(0);
  private offset = 0; // file offset of carry[0]
  private skip = -1; // bytes of ID3v2 tag still to skip; -1 until the first chunk
  frames = 0;
  /** Channel count of the first frame (the decoder mixes to mono, so the file's count comes from here). */
  channels: 1 | 2 | undefined;
  lost = false; // sync lost (garbage or a trailing tag): stop checking
  truncatedAt: number | undefined;

  push(chunk: Uint8Array): void {
    if (this.lost) return;
    let b = this.carry.length ? concat(this.carry, chunk) : chunk;
    if (this.skip < 0) {
      if (b.length < 10) {
        this.carry = b;
        return;
      }
      this.skip = id3v2Size(b);
    }
    let p = 0;
    if (this.skip > 0) {
      const n = Math.min(this.skip, b.length);
      this.skip -= n;
      p = n;
    }
    while (p + 4 <= b.length) {
      const h = parseFrameHeader(b, p);
      if (!h) {
        this.lost = this.frames > 0; // before the first frame, keep looking (junk between tag and audio)
        if (this.lost) return;
        p++;
        continue;
      }
      if (p + h.length > b.length) break; // the frame continues in the next chunk
      this.frames++;
      this.channels ??= h.channels;
      p += h.length;
    }
    this.offset += p;
    b = b.subarray(p);
    this.carry = b.slice();
  }

  finish(): void {
    if (this.lost || this.carry.length < 4) return;
    const h = parseFrameHeader(this.carry, 0);
    if (h && h.length > this.carry.length) this.truncatedAt = this.offset;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
