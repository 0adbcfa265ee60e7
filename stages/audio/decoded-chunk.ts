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
