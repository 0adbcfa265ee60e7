// Streams PCM out of a WAV file chunk by chunk (wavefile, the maintained library, reads whole files
// into memory; a chapter can be hours). Handles PCM 8/16/24/32-bit, IEEE float 32/64 and
// WAVE_FORMAT_EXTENSIBLE; tested against wavefile's decoding (test/unit/audio-io.test.ts).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { badSourceFormat, type DecodedChunk } from './decoded-chunk.ts';

export interface WavFormat {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  float: boolean;
  dataOffset: number;
  dataBytes: number;
}

export class WavFormatError extends Error {}

/** The most bytes read per chunk (64k frames of 16-bit stereo). */
const READ_BYTES = 65536 * 4;

/** The 14 bytes after the format tag that every standard WAVE_FORMAT_EXTENSIBLE sub-format GUID ends with. */
const KSDATAFORMAT_TAIL = Buffer.from([0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]);

/** A data chunk size of 0xFFFFFFFF: the writer streamed and never learnt the length ("to the end"). */
const UNKNOWN_SIZE = 0xffffffff;

/**
 * Reads the chunks before `data` and returns the format. Every header field is checked before it
 * is used: a header is data from the user, and a bad one must be an input error, not a crash.
 */
export function readWavFormat(fd: number): WavFormat {
  const fileBytes = fstatSync(fd).size;
  const head = Buffer.alloc(12);
  if (
    readSync(fd, head, 0, 12, 0) < 12 ||
    head.toString('ascii', 0, 4) !== 'RIFF' ||
    head.toString('ascii', 8, 12) !== 'WAVE'
  ) {
    throw new WavFormatError('not a RIFF/WAVE file');
  }
  let offset = 12;
  let format: Omit<WavFormat, 'dataOffset' | 'dataBytes'> | undefined;
  const chunk = Buffer.alloc(8);
  for (;;) {
    if (readSync(fd, chunk, 0, 8, offset) < 8)
      throw new WavFormatError(format ? 'no "data" chunk before the end of the file' : 'no "fmt " chunk');
    const id = chunk.toString('ascii', 0, 4);
    const size = chunk.readUInt32LE(4);
    if (id === 'fmt ') {
      format = readFmt(fd, offset + 8, size);
    } else if (id === 'data') {
      if (!format) throw new WavFormatError('"data" chunk before "fmt " chunk');
      const dataOffset = offset + 8;
      const present = fileBytes - dataOffset;
      if (size !== UNKNOWN_SIZE && size > present) {
        throw new WavFormatError(
          `the file is truncated: its "data" chunk says ${size} bytes, but only ${present} follow it`,
        );
      }
      return { ...format, dataOffset, dataBytes: Math.min(size, present) };
    }
    offset += 8 + size + (size % 2);
  }
}

/** The "fmt " chunk at `at` of `size` bytes, checked field by field. */
function readFmt(fd: number, at: number, size: number): Omit<WavFormat, 'dataOffset' | 'dataBytes'> {
  if (size < 16) throw new WavFormatError(`its "fmt " chunk is ${size} bytes, fewer than the 16 it needs`);
  const fmt = Buffer.alloc(Math.min(size, 40));
  if (readSync(fd, fmt, 0, fmt.length, at) < fmt.length)
    throw new WavFormatError('the file ends inside its "fmt " chunk');
  let tag = fmt.readUInt16LE(0);
  if (tag === 0xfffe) {
    // WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID at byte 24.
    if (fmt.length < 40)
      throw new WavFormatError(`its extensible "fmt " chunk is ${size} bytes, fewer than the 40 it needs`);
    if (!fmt.subarray(26, 40).equals(KSDATAFORMAT_TAIL))
      throw new WavFormatError(
        `unsupported WAV encoding (extensible sub-format GUID ${fmt.subarray(24, 40).toString('hex')}); only PCM and IEEE float`,
      );
    tag = fmt.readUInt16LE(24);
  }
  if (tag !== 1 && tag !== 3)
    throw new WavFormatError(`unsupported WAV encoding (format tag ${tag}); only PCM and IEEE float`);
  const float = tag === 3;
  const channels = fmt.readUInt16LE(2);
  const sampleRate = fmt.readUInt32LE(4);
  const bitsPerSample = fmt.readUInt16LE(14);
  const bad = badSourceFormat(sampleRate, channels);
  if (bad) throw new WavFormatError(bad);
  if (!(float ? [32, 64] : [8, 16, 24, 32]).includes(bitsPerSample))
    throw new WavFormatError(
      `unsupported bit depth ${bitsPerSample} for ${float ? 'IEEE float (32 or 64)' : 'PCM (8, 16, 24 or 32)'}`,
    );
  return { channels, sampleRate, bitsPerSample, float };
}

/** Yields de-interleaved float chunks of about `frames` frames (fewer for very many channels). */
export function* readWav(path: string, frames = 65536): Generator<DecodedChunk> {
  const fd = openSync(path, 'r');
  try {
    const f = readWavFormat(fd);
    const bytesPerSample = f.bitsPerSample / 8;
    const frameBytes = bytesPerSample * f.channels;
    // NOTE: bounded in bytes, not frames: 65535 channels of 64-bit samples are 512 kB a frame.
    const buffer = Buffer.alloc(
      Math.max(1, Math.min(frames, Math.floor(READ_BYTES / frameBytes))) * frameBytes,
    );
    let remaining = f.dataBytes - (f.dataBytes % frameBytes);
    let position = f.dataOffset;
    while (remaining > 0) {
      const want = Math.min(buffer.length, remaining);
      const got = readSync(fd, buffer, 0, want, position);
      const whole = got - (got % frameBytes);
      if (whole === 0) break; // the file is shorter than its header says
      yield {
        channels: deinterleave(buffer.subarray(0, whole), f),
        sourceChannels: f.channels,
        sampleRate: f.sampleRate,
        byteOffset: position,
      };
      position += whole;
      remaining -= whole;
    }
  } finally {
    closeSync(fd);
  }
}

function deinterleave(bytes: Buffer, f: WavFormat): Float32Array[] {
  const fast = deinterleaveTyped(bytes, f);
  if (fast) return fast;
  const n = bytes.length / ((f.bitsPerSample / 8) * f.channels);
  const out = Array.from({ length: f.channels }, () => new Float32Array(n));
  const step = f.bitsPerSample / 8;
  let p = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < f.channels; c++, p += step) out[c]![i] = sampleAt(bytes, p, f);
  }
  return out;
}

/**
 * The common encodings (16-bit PCM, float32) through typed-array views instead of a Buffer read per
 * sample: an order of magnitude faster, which matters when tokenize reads hours of audio.
 * Views need aligned, little-endian data; otherwise the general path is used.
 */
function deinterleaveTyped(bytes: Buffer, f: WavFormat): Float32Array[] | undefined {
  const pcm16 = !f.float && f.bitsPerSample === 16;
  const float32 = f.float && f.bitsPerSample === 32;
  if (!(pcm16 || float32) || endianness() !== 'LE') return undefined;
  const width = pcm16 ? 2 : 4;
  // Copy into a fresh, aligned buffer (the read buffer's offset may not be a multiple of the width).
  const aligned = new Uint8Array(bytes).buffer;
  const all = pcm16
    ? new Int16Array(aligned, 0, bytes.length / width)
    : new Float32Array(aligned, 0, bytes.length / width);
  const channels = f.channels;
  const n = all.length / channels;
  const scale = pcm16 ? 1 / 32768 : 1;
  return Array.from({ length: channels }, (_, c) => {
    const out = new Float32Array(n);
    for (let i = 0, p = c; i < n; i++, p += channels) out[i] = all[p]! * scale;
    return out;
  });
}

function sampleAt(b: Buffer, p: number, f: WavFormat): number {
  if (f.float) return f.bitsPerSample === 64 ? b.readDoubleLE(p) : b.readFloatLE(p);
  switch (f.bitsPerSample) {
    case 8:
      return (b[p]! - 128) / 128;
    case 16:
      return b.readInt16LE(p) / 32768;
    case 24:
      return b.readIntLE(p, 3) / 8388608;
    case 32:
      return b.readInt32LE(p) / 2147483648;
    default:
      throw new WavFormatError(`unsupported bit depth ${f.bitsPerSample}`);
  }
}
