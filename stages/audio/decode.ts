// Streaming decoders by file type: MP3 (libmpg123 in WebAssembly, mixed to mono by the decoder:
// mp3-decoder.ts), FLAC (@wasm-audio-decoders/flac) and WAV (our streaming reader). Each yields
// planar float chunks and reads the file in 64 KiB pieces, so memory stays bounded for a chapter
// of any length.
import { closeSync, openSync, readSync, type Stats, statSync } from 'node:fs';
import { extname } from 'node:path';
import type { DecodedChunk } from './decoded-chunk.ts';
import { FrameScanner } from './mp3-frames.ts';
import { readWav, WavFormatError } from './wav-reader.ts';

const READ_SIZE = 64 << 10;

/** A file that cannot be decoded; `where` names the byte offset or frame. */
export class AudioDecodeError extends Error {
  constructor(
    readonly file: string,
    readonly where: string,
    readonly reason: string,
  ) {
    super(`cannot decode ${file}${where ? ` ${where}` : ''}: ${reason}`);
    this.name = 'AudioDecodeError';
  }
}

export const DECODABLE = ['.mp3', '.flac', '.wav', '.wave'];

export function decodeFile(path: string): AsyncGenerator<DecodedChunk> | Generator<DecodedChunk> {
  checkReadable(path);
  const ext = extname(path).toLowerCase();
  if (ext === '.mp3') return decodeMp3(path);
  if (ext === '.flac') return decodeFlac(path);
  if (ext === '.wav' || ext === '.wave') return decodeWav(path);
  throw new AudioDecodeError(
    path,
    '',
    `unsupported file type "${ext}" (resample reads ${DECODABLE.join(', ')})`,
  );
}

/** A listed path that is a folder, empty or unreadable is bad input, not a crash of a decoder. */
function checkReadable(path: string): void {
  let info: Stats;
  try {
    info = statSync(path);
  } catch (error) {
    throw new AudioDecodeError(path, '', `cannot read it (${(error as NodeJS.ErrnoException).code})`);
  }
  if (info.isDirectory()) throw new AudioDecodeError(path, '', 'it is a folder, not an audio file');
  if (!info.isFile()) throw new AudioDecodeError(path, '', 'it is not a regular file');
  if (info.size === 0) throw new AudioDecodeError(path, '', 'the file is empty');
}

function* fileChunks(path: string): Generator<{ bytes: Uint8Array; offset: number }> {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(READ_SIZE);
    let offset = 0;
    for (;;) {
      const n = readSync(fd, buffer, 0, READ_SIZE, offset);
      if (n === 0) return;
      yield { bytes: buffer.subarray(0, n), offset };
      offset += n;
    }
  } finally {
    closeSync(fd);
  }
}

async function* decodeMp3(path: string): AsyncGenerator<DecodedChunk> {
  const { Mp3Decoder, Mp3DataError } = await import('./mp3-decoder.ts');
  const decoder = Mp3Decoder.open();
  const frames = new FrameScanner();
  let samples = 0;
  try {
    for (const { bytes, offset } of fileChunks(path)) {
      frames.push(bytes);
      let mono: Float32Array;
      try {
        mono = decoder.decode(bytes);
      } catch (error) {
        if (!(error instanceof Mp3DataError)) throw error;
        const frame = Math.floor((error.outputSamples || samples) / 1152);
        throw new AudioDecodeError(
          path,
          `near byte ${error.inputBytes || offset} (about frame ${frame})`,
          `corrupt MPEG data (${error.message.trim()})`,
        );
      }
      if (mono.length > 0) {
        samples += mono.length;
        // Mixed to mono by the decoder; the file's own channel count comes from its frame headers.
        yield {
          channels: [mono],
          sourceChannels: frames.channels ?? 1,
          sampleRate: decoder.sampleRate,
          byteOffset: offset,
        };
      }
    }
    frames.finish();
    if (frames.truncatedAt !== undefined) {
      throw new AudioDecodeError(
        path,
        `at byte ${frames.truncatedAt} (frame ${frames.frames + 1})`,
        'the file is truncated: its last MPEG frame is cut short',
      );
    }
    if (samples === 0) throw new AudioDecodeError(path, '', 'no MPEG audio frames found (not an MP3 file?)');
  } finally {
    decoder.free();
  }
}

async function* decodeFlac(path: string): AsyncGenerator<DecodedChunk> {
  const { FLACDecoder } = await import('@wasm-audio-decoders/flac');
  const decoder = new FLACDecoder();
  await decoder.ready;
  let samples = 0;
  try {
    let last = 0;
    for (const { bytes, offset } of fileChunks(path)) {
      last = offset;
      const out = await decoder.decode(bytes);
      if (out.errors[0])
        throw new AudioDecodeError(
          path,
          `near byte ${out.errors[0].inputBytes || offset}`,
          `corrupt FLAC data (${out.errors[0].message})`,
        );
      if (out.samplesDecoded > 0) {
        samples += out.samplesDecoded;
        yield {
          channels: out.channelData.map((c) => c.subarray(0, out.samplesDecoded)),
          sourceChannels: out.channelData.length,
          sampleRate: out.sampleRate,
          byteOffset: offset,
        };
      }
    }
    const tail = await decoder.flush();
    if (tail.samplesDecoded > 0) {
      samples += tail.samplesDecoded;
      yield {
        channels: tail.channelData.map((c) => c.subarray(0, tail.samplesDecoded)),
        sourceChannels: tail.channelData.length,
        sampleRate: tail.sampleRate,
        byteOffset: last,
      };
    }
    if (samples === 0) throw new AudioDecodeError(path, '', 'no FLAC audio frames found');
  } finally {
    decoder.free();
  }
}

function* decodeWav(path: string): Generator<DecodedChunk> {
  try {
    let any = false;
    for (const chunk of readWav(path)) {
      any = true;
      yield chunk;
    }
    if (!any) throw new AudioDecodeError(path, '', 'the WAV file has no samples');
  } catch (error) {
    if (error instanceof WavFormatError) throw new AudioDecodeError(path, '', error.message);
    throw error;
  }
}
