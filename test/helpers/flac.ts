// A minimal FLAC encoder for test fixtures: 16-bit samples in VERBATIM subframes (no compression),
// fixed block size, CRC-8/CRC-16 as the format requires. Enough for a real decoder to read, which
// is what the FLAC path of `resample` is tested with (no FLAC encoder ships on npm for Node).
import { concat } from './audio.ts';

function crc8(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x8005) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** FLAC's UTF-8-like coding of the frame number. */
function codedNumber(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x800) return [0xc0 | (n >> 6), 0x80 | (n & 0x3f)];
  if (n < 0x10000) return [0xe0 | (n >> 12), 0x80 | ((n >> 6) & 0x3f), 0x80 | (n & 0x3f)];
  return [0xf0 | (n >> 18), 0x80 | ((n >> 12) & 0x3f), 0x80 | ((n >> 6) & 0x3f), 0x80 | (n & 0x3f)];
}

const RATE_CODES: Record<number, number> = {
  8000: 4,
  16000: 5,
  22050: 6,
  24000: 7,
  32000: 8,
  44100: 9,
  48000: 10,
  96000: 11,
};

/** FLAC bytes of 1 or 2 float channels at `sampleRate`. */
export function encodeFlac(channels: Float32Array[], sampleRate: number, blockSize = 4096): Uint8Array {
  const total = channels[0]!.length;
  const pcm = channels.map((c) =>
    Int16Array.from(c, (s) => Math.max(-32768, Math.min(32767, Math.round(s * 32767)))),
  );
  const info = new Uint8Array(34);
  const view = new DataView(info.buffer);
  view.setUint16(0, blockSize);
  view.setUint16(2, blockSize);
  // sample rate (20) | channels-1 (3) | bits-1 (5) | total samples (36), packed big-endian from byte 10.
  const packed =
    (BigInt(sampleRate) << 44n) | (BigInt(channels.length - 1) << 41n) | (15n << 36n) | BigInt(total);
  for (let i = 0; i < 8; i++) info[10 + i] = Number((packed >> BigInt(56 - 8 * i)) & 0xffn);
  const parts: Uint8Array[] = [new TextEncoder().encode('fLaC'), new Uint8Array([0x80, 0, 0, 34]), info];
  for (let start = 0, frame = 0; start < total; start += blockSize, frame++) {
    const n = Math.min(blockSize, total - start);
    // Block size: 16-bit value at the end of the header; the sample rate coded in the header itself
    // (some parsers, codec-parser among them, do not take it from STREAMINFO).
    const rateCode = RATE_CODES[sampleRate] ?? 0;
    const header = [
      0xff,
      0xf8,
      0x70 | rateCode,
      ((channels.length - 1) << 4) | (4 << 1),
      ...codedNumber(frame),
      (n - 1) >> 8,
      (n - 1) & 0xff,
    ];
    header.push(crc8(new Uint8Array(header)));
    const body: number[] = [];
    for (const channel of pcm) {
      body.push(0x02); // VERBATIM subframe, no wasted bits
      for (let i = 0; i < n; i++) {
        const s = channel[start + i]! & 0xffff;
        body.push(s >> 8, s & 0xff);
      }
    }
    const bytes = new Uint8Array([...header, ...body]);
    const crc = crc16(bytes);
    parts.push(bytes, new Uint8Array([crc >> 8, crc & 0xff]));
  }
  return concat(parts);
}
