// What every decoder yields: planar float samples at the file's rate, and where in the file they
// came from (so an error can name a byte offset).
export interface DecodedChunk {
  /** May be views of buffers the decoder reuses: valid until the next chunk is asked for. */
  channels: Float32Array[];
  /** The file's channel count (a decoder may mix to mono itself: MP3 does). */
  sourceChannels: number;
  sampleRate: number;
  byteOffset: number;
}

// NOTE: the bounds a source file's header must fall in before anything is allocated from it. A
// header is data from the user: a rate of 0 divides by zero, 4 GHz asks for a 15 GB filter, and
// 1 Hz turns a 100 kB file into hours of output. 1 kHz to 768 kHz covers every real recording.
export const MIN_SOURCE_RATE = 1000;
export const MAX_SOURCE_RATE = 768_000;

/** Why a source's declared rate or channel count cannot be decoded, or undefined when it can. */
export function badSourceFormat(sampleRate: number, channels: number): string | undefined {
  if (!Number.isInteger(sampleRate) || sampleRate < MIN_SOURCE_RATE || sampleRate > MAX_SOURCE_RATE)
    return `its sample rate is ${sampleRate} Hz (resample reads ${MIN_SOURCE_RATE} to ${MAX_SOURCE_RATE} Hz)`;
  if (!Number.isInteger(channels) || channels < 1) return `it has ${channels} channels`;
  return undefined;
}
